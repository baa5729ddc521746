/**
 * Generator options and per-request generation options, validated with zod at the public edge.
 * Names and defaults follow what users of vLLM and Hugging Face TGI know: max_num_seqs
 * (maxBatchSize), max_num_batched_tokens (maxBatchTokens), the KV cache budget (maxKvTokens),
 * max_new_tokens, temperature, top_k, top_p, seed, stop token ids.
 */
import { z } from 'zod';
import { MetricsOptionsSchema } from '../batching/options.js';

export const GeneratorOptionsSchema = z
  .object({
    /**
     * The most sequences in the running batch (vLLM's max_num_seqs). Default 32, or the
     * largest batch the session's optimization profiles allow when smaller.
     */
    maxBatchSize: z.number().int().min(1).max(4096).optional(),
    /**
     * Per-step token budget (vLLM's max_num_batched_tokens): a prefill step holds at most this
     * many positions (rows times the longest prompt among them, as padding is computed too), and
     * one prefill round at most this many prompt tokens; a decode step takes one per row. A
     * prompt longer than this is refused. Default 4096; at least maxBatchSize.
     */
    maxBatchTokens: z
      .number()
      .int()
      .min(1)
      .max(1 << 24)
      .optional(),
    /**
     * How long (ms) a new request may wait for others to be prefilled with it, when the batch has
     * room for more; running sequences keep decoding meanwhile. Default 0: prefill at the next
     * step.
     */
    maxQueueDelayMs: z.number().finite().min(0).max(60_000).optional(),
    /**
     * The KV cache budget, in token positions as the batch's tensors hold them: rows times the
     * longest row (left padding included), for the whole life of every admitted sequence
     * (prompt + maxNewTokens - 1). Requests wait while admitting them could exceed it; one that
     * could never fit is refused. Default 16384 (see config.kvBytesPerToken for its size in
     * bytes). A step's present outputs are allocated beside its past, so peak memory is about
     * twice this.
     */
    maxKvTokens: z
      .number()
      .int()
      .min(1)
      .max(1 << 30)
      .optional(),
    /** Prometheus metrics (prom-client); `false` turns them off (stats() still counts). */
    metrics: z.union([z.literal(false), MetricsOptionsSchema]).optional(),
  })
  .strict();

export type GeneratorOptions = z.input<typeof GeneratorOptionsSchema>;

const TokenId = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);

export const GenerateOptionsSchema = z
  .object({
    /** Tokens to generate at most (Hugging Face's max_new_tokens). Default 16. */
    maxNewTokens: z
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .default(16),
    /** 0 or unset: greedy (ties to the lowest id); > 0: sampling at this temperature. */
    temperature: z.number().finite().min(0).max(1000).default(0),
    /** Sampling only: keep the k most likely tokens (and ties with the k-th); 0 = off. */
    topK: z.number().int().min(0).default(0),
    /** Sampling only: keep the smallest set of most likely tokens whose mass reaches topP; 1 = off. */
    topP: z.number().gt(0).max(1).default(1),
    /** Seed of this request's sampler (same seed, same samples); default: a fresh random seed. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional(),
    /** Token ids that end the generation (finishReason 'stop'); the stop token is the last of `tokens`. */
    stopTokens: z.array(TokenId).max(4096).optional(),
    /** Aborting ends the generation with finishReason 'aborted' and the tokens so far. */
    signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { message: 'expected an AbortSignal' }).optional(),
  })
  .strict();

export type GenerateOptions = z.input<typeof GenerateOptionsSchema>;
export type ParsedGenerateOptions = z.output<typeof GenerateOptionsSchema>;

export const CloseOptionsSchema = z
  .object({
    /**
     * true (default): finish every queued and running generation first; false: queued requests
     * reject with ERR_SHUTTING_DOWN and running ones end now with finishReason 'aborted'.
     */
    drain: z.boolean().optional(),
    /** Stop draining after this long (ms), then end the rest as drain: false does. */
    timeoutMs: z.number().finite().min(0).optional(),
  })
  .strict();

export type GeneratorCloseOptions = z.input<typeof CloseOptionsSchema>;
