/**
 * GraphBuilder: a small helper to write ONNX graphs in code. Node and tensor names follow the
 * PyTorch exporter's style (`/scope/Op`, `/scope/Op_output_0`), so name-based rules such as
 * the FP16 converter's blockNodes read naturally.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '../errors.js';
import { DATA_TYPES, Tensor, type DataType } from '../tensor.js';
import type { Dim } from '../session.js';
import { makeAttribute, type AttributeValue } from './attributes.js';
import { makeValueInfo } from './graph.js';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './schema.js';
import { tensorToProto } from './tensor-proto.js';

/** The IR version ONNX pairs with an ai.onnx opset (the oldest IR that allows it). */
export function irVersionForOpset(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 13) return 7;
  return 6;
}

export interface GraphBuilderOptions {
  /** Graph name (default "main"). */
  name?: string;
  /** ai.onnx opset (default 17). */
  opset?: number;
  /** Extra opset imports, e.g. { "com.microsoft": 1 }. */
  opsets?: Readonly<Record<string, number>>;
}

export interface NodeOptions {
  /** Node name; default `/<scope>/<OpType>` made unique. */
  name?: string;
  /** Output names or a count of outputs to name automatically (default 1). */
  outputs?: number | readonly string[];
  domain?: string;
}

export class GraphBuilder {
  readonly opset: number;
  readonly #name: string;
  readonly #opsets: Readonly<Record<string, number>>;
  readonly #nodes: NodeProto[] = [];
  readonly #inputs: ValueInfoProto[] = [];
  readonly #outputs: ValueInfoProto[] = [];
  readonly #initializers: TensorProto[] = [];
  readonly #valueInfo: ValueInfoProto[] = [];
  readonly #names = new Set<string>();
  readonly #scope: string[] = [];

  constructor(options: GraphBuilderOptions = {}) {
    this.opset = options.opset ?? 17;
    this.#name = options.name ?? 'main';
    this.#opsets = options.opsets ?? {};
  }

  /** A name not used yet in this graph: `base`, `base_1`, ... */
  uniqueName(base: string): string {
    let name = base;
    for (let k = 1; this.#names.has(name); k++) name = `${base}_${k}`;
    this.#names.add(name);
    return name;
  }

  #claim(name: string, what: string): string {
    if (this.#names.has(name)) throw new InvalidArgumentError(`${what} name ${JSON.stringify(name)} is already used in this graph`);
    this.#names.add(name);
    return name;
  }

  /** Runs `fn` with node names prefixed by `/scope`. */
  scope<T>(scope: string, fn: () => T): T {
    this.#scope.push(scope);
    try {
      return fn();
    } finally {
      this.#scope.pop();
    }
  }

  get #prefix(): string {
    return this.#scope.length > 0 ? `/${this.#scope.join('/')}` : '';
  }

  input(name: string, dtype: DataType, dims: readonly Dim[]): string {
    this.#inputs.push(makeValueInfo(this.#claim(name, 'input'), DATA_TYPES[dtype].onnx, dims));
    return name;
  }

  /** Declares `name` (already produced by a node) as a graph output. */
  output(name: string, dtype: DataType, dims: readonly Dim[]): string {
    this.#outputs.push(makeValueInfo(name, DATA_TYPES[dtype].onnx, dims));
    return name;
  }

  /** Declares the type and dims of an intermediate tensor (value_info). */
  valueInfo(name: string, dtype: DataType, dims: readonly Dim[]): void {
    this.#valueInfo.push(makeValueInfo(name, DATA_TYPES[dtype].onnx, dims));
  }

  /**
   * Adds an initializer named exactly `name`. It may share the name of a graph input (the
   * input's default value, as IR < 4 models list every initializer).
   */
  initializer(name: string, tensor: Tensor): string {
    const isInput = this.#inputs.some((i) => i.name === name);
    this.#initializers.push(tensorToProto(tensor, isInput ? name : this.#claim(name, 'initializer')));
    return name;
  }

  /** Adds an initializer under a fresh name derived from `base` (scoped). */
  constant(tensor: Tensor, base = 'const'): string {
    const name = this.uniqueName(`${this.#prefix}/${base}`);
    this.#initializers.push(tensorToProto(tensor, name));
    return name;
  }

  /** A float32 scalar or 1-D constant. */
  floats(values: number | readonly number[], base = 'const'): string {
    return Array.isArray(values)
      ? this.constant(new Tensor('float32', Float32Array.from(values as number[]), [values.length]), base)
      : this.constant(new Tensor('float32', Float32Array.of(values as number), []), base);
  }

  /** An int64 scalar or 1-D constant. */
  ints(values: number | readonly number[], base = 'const'): string {
    return Array.isArray(values)
      ? this.constant(new Tensor('int64', BigInt64Array.from((values as number[]).map(BigInt)), [values.length]), base)
      : this.constant(new Tensor('int64', BigInt64Array.of(BigInt(values as number)), []), base);
  }

  /** Adds a node; returns its output names. */
  node(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>> = {}, options: NodeOptions = {}): string[] {
    const name = options.name ?? this.uniqueName(`${this.#prefix}/${opType}`);
    if (options.name !== undefined) this.#claim(name, 'node');
    const outs =
      typeof options.outputs === 'object'
        ? options.outputs.map((o) => this.#claim(o, 'tensor'))
        : Array.from({ length: options.outputs ?? 1 }, (_, i) => this.uniqueName(`${name}_output_${i}`));
    this.#nodes.push(
      create(NodeProtoSchema, {
        name,
        opType,
        domain: options.domain ?? '',
        input: [...inputs],
        output: outs,
        attribute: Object.entries(attributes).map(([k, v]) => makeAttribute(k, v)),
      }),
    );
    return outs;
  }

  /** Adds a single-output node; returns the output name (or `output` when given). */
  op(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>> = {}, output?: string): string {
    return this.node(opType, inputs, attributes, output === undefined ? {} : { outputs: [output] })[0]!;
  }

  /** The graph so far (for subgraphs: If branches, Loop bodies). */
  buildGraph(): GraphProto {
    return create(GraphProtoSchema, {
      name: this.#name,
      node: [...this.#nodes],
      input: [...this.#inputs],
      output: [...this.#outputs],
      initializer: [...this.#initializers],
      valueInfo: [...this.#valueInfo],
    });
  }

  build(options: { producerName?: string; producerVersion?: string; docString?: string; metadata?: Record<string, string> } = {}): ModelProto {
    return create(ModelProtoSchema, {
      irVersion: BigInt(irVersionForOpset(this.opset)),
      producerName: options.producerName ?? 'tensorrt-node',
      producerVersion: options.producerVersion ?? '',
      docString: options.docString ?? '',
      graph: this.buildGraph(),
      opsetImport: [
        create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(this.opset) }),
        ...Object.entries(this.#opsets).map(([domain, version]) => create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) })),
      ],
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
    });
  }
}
