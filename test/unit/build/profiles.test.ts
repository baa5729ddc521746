import { describe, expect, it } from 'vitest';
import { deriveProfiles, profilesAsRecords, type NetworkInput } from '../../../src/build/profiles.js';
import { InvalidArgumentError } from '../../../src/errors.js';

const bert: NetworkInput[] = [
  { name: 'input_ids', dims: [-1, -1], dimNames: ['batch', 'seq'] },
  { name: 'attention_mask', dims: [-1, -1], dimNames: ['batch', 'seq'] },
];

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as Error).message;
  }
  throw new Error('expected a throw');
}

describe('deriveProfiles', () => {
  it('derives one profile from symbolic dims, shared names sharing the range', () => {
    const p = deriveProfiles(bert, { dims: { batch: [1, 64], seq: { min: 1, opt: 128, max: 512 } } });
    expect(p).toEqual([
      [
        { input: 'input_ids', min: [1, 1], opt: [64, 128], max: [64, 512] },
        { input: 'attention_mask', min: [1, 1], opt: [64, 128], max: [64, 512] },
      ],
    ]);
    expect(profilesAsRecords(p)).toEqual([
      { input_ids: { min: [1, 1], opt: [64, 128], max: [64, 512] }, attention_mask: { min: [1, 1], opt: [64, 128], max: [64, 512] } },
    ]);
  });

  it('keeps fixed dims and leaves static inputs out', () => {
    const inputs: NetworkInput[] = [
      { name: 'x', dims: [-1, 3, 224], dimNames: ['n', '', ''] },
      { name: 'scale', dims: [3], dimNames: [''] },
    ];
    expect(deriveProfiles(inputs, { dims: { n: 8 } })).toEqual([[{ input: 'x', min: [8, 3, 224], opt: [8, 3, 224], max: [8, 3, 224] }]]);
  });

  it('takes unnamed dynamic dims as "input:axis"', () => {
    const inputs: NetworkInput[] = [{ name: 'x', dims: [-1, -1], dimNames: ['', ''] }];
    expect(deriveProfiles(inputs, { dims: { 'x:0': [1, 4], 'x:1': 16 } })).toEqual([[{ input: 'x', min: [1, 16], opt: [4, 16], max: [4, 16] }]]);
  });

  it('builds several profiles; a profile overrides the top-level dims and explicit shapes win', () => {
    const p = deriveProfiles(bert, {
      dims: { batch: [1, 8], seq: [1, 128] },
      profiles: [
        {},
        { dims: { seq: [129, 512] } },
        { shapes: { input_ids: { min: [1, 1], opt: [2, 2], max: [3, 3] } }, dims: { batch: 3, seq: [1, 3] } },
      ],
    });
    expect(p).toHaveLength(3);
    expect(p[0]![0]).toEqual({ input: 'input_ids', min: [1, 1], opt: [8, 128], max: [8, 128] });
    expect(p[1]![1]).toEqual({ input: 'attention_mask', min: [1, 129], opt: [8, 512], max: [8, 512] });
    expect(p[2]![0]).toEqual({ input: 'input_ids', min: [1, 1], opt: [2, 2], max: [3, 3] });
    expect(p[2]![1]).toEqual({ input: 'attention_mask', min: [3, 1], opt: [3, 3], max: [3, 3] });
  });

  it('returns no profile for a network without dynamic inputs', () => {
    expect(deriveProfiles([{ name: 'x', dims: [1, 3], dimNames: ['', ''] }], {})).toEqual([]);
  });

  it('says which input and dim lack a range and how to give it', () => {
    const m = message(() => deriveProfiles(bert, { dims: { batch: [1, 8] } }));
    expect(m).toContain('input "input_ids" [batch, seq] dim 1 ("seq") has no range');
    expect(m).toContain('give dims: { "seq": [min, max] }');
    expect(m).toContain('input "attention_mask"');
  });

  it('refuses reversed ranges, unknown dims and inputs, and shapes that break fixed dims', () => {
    expect(message(() => deriveProfiles(bert, { dims: { batch: { min: 8, opt: 4, max: 16 }, seq: 4 } }))).toMatch(
      /range of "batch": needs min <= opt <= max, got min 8, opt 4, max 16/,
    );
    expect(message(() => deriveProfiles(bert, { dims: { btach: 1, batch: 1, seq: 1 } }))).toMatch(
      /options\.dims\.btach names no dynamic dim of the model; its dynamic dims are batch, seq, input_ids:0/,
    );
    expect(
      message(() =>
        deriveProfiles(bert, { dims: { batch: 1, seq: 1 }, profiles: [{ shapes: { token_type_ids: { min: [1], opt: [1], max: [1] } } }] }),
      ),
    ).toMatch(/options\.profiles\[0\]\.shapes names "token_type_ids", which is not an input/);
    const fixed: NetworkInput[] = [{ name: 'x', dims: [-1, 3], dimNames: ['n', ''] }];
    expect(message(() => deriveProfiles(fixed, { profiles: [{ shapes: { x: { min: [1, 3], opt: [1, 4], max: [2, 3] } } }] }))).toMatch(
      /dim 1 of input "x" is fixed at 3, got min 3, opt 4, max 3/,
    );
    expect(message(() => deriveProfiles(fixed, { profiles: [{ shapes: { x: { min: [1], opt: [1, 3], max: [2, 3] } } }] }))).toMatch(
      /min \[1\] has rank 1, input "x" has rank 2/,
    );
  });
});
