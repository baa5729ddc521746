/** The result of bisecting two models node by node (see bisect.ts). */

export interface BisectTensorReport {
  /** Producing node's name (or "#index" when the node has no name). */
  node: string;
  opType: string;
  /** Position of the node in A's graph (topological order). */
  nodeIndex: number;
  tensor: string;
  passed: boolean;
  dtypeA: string;
  dtypeB: string;
  elementCount: number;
  maxAbsError: number;
  meanAbsError: number;
  medianAbsError: number;
  p99AbsError: number;
  maxRelError: number;
  cosineSimilarity: number;
  relativeL2Error: number;
  /** Positions where A or B is NaN, and per side. */
  nanCount: number;
  nanCountA: number;
  nanCountB: number;
  /** Positions where A or B is +-Infinity, and per side. */
  infCount: number;
  infCountA: number;
  infCountB: number;
  requiredAtol: number;
  requiredRtol: number;
  /** Set when the tensor exists in both but cannot be compared (shape or dtype). */
  error?: string;
}

export interface BisectInputStatus {
  name: string;
  status: 'passed' | 'diverged' | 'graph input' | 'initializer' | 'not compared';
  maxAbsError?: number;
}

export interface BisectDivergence extends BisectTensorReport {
  /** The diverging node's inputs: all compared ones passed, which is what makes it the first. */
  inputs: BisectInputStatus[];
}

export interface BisectResult {
  /** The first node (in A's topological order) with an output beyond tolerance; absent when none. */
  firstDivergence?: BisectDivergence;
  /** Intermediate tensors present in both models and compared. */
  checkedTensors: number;
  /** Node outputs of A with no tensor of the same name in B (e.g. fused or renamed). */
  unmatchedTensors: number;
  /** Every compared tensor, in A's node order. */
  nodes: BisectTensorReport[];
  /** Whether equal infinities counted as agreement (the option the run used). */
  infinitiesCompareEqual: boolean;
}
