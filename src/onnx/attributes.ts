/**
 * Reading and making node attributes.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidArgumentError, describe } from '../errors.js';
import { Tensor } from '../tensor.js';
import { ATTRIBUTE_TYPE, AttributeProtoSchema, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from './schema.js';
import { tensorToProto } from './tensor-proto.js';

export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function getIntAttribute(node: NodeProto, name: string): number | undefined;
export function getIntAttribute(node: NodeProto, name: string, fallback: number): number;
export function getIntAttribute(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = getAttribute(node, name);
  return a === undefined ? fallback : Number(a.i);
}

export function getIntsAttribute(node: NodeProto, name: string): number[] | undefined {
  const a = getAttribute(node, name);
  return a === undefined ? undefined : a.ints.map(Number);
}

export function getFloatAttribute(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = getAttribute(node, name);
  return a === undefined ? fallback : a.f;
}

export function getStringAttribute(node: NodeProto, name: string): string | undefined {
  const a = getAttribute(node, name);
  return a === undefined ? undefined : new TextDecoder().decode(a.s);
}

export function getTensorAttribute(node: NodeProto, name: string): TensorProto | undefined {
  return getAttribute(node, name)?.t;
}

/** The graphs a node carries in its attributes (If branches, Loop and Scan bodies). */
export function subgraphsOf(node: NodeProto): GraphProto[] {
  const out: GraphProto[] = [];
  for (const a of node.attribute) {
    if (a.g) out.push(a.g);
    out.push(...a.graphs);
  }
  return out;
}

/** A float attribute value (numbers are otherwise INT when integral). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
/** A float-list attribute value. */
export class FloatsAttr {
  constructor(readonly value: readonly number[]) {}
}

export const floatAttr = (v: number): FloatAttr => new FloatAttr(v);
export const floatsAttr = (v: readonly number[]): FloatsAttr => new FloatsAttr(v);

/**
 * An attribute value: an integral number or bigint (INT), a non-integral number or floatAttr()
 * (FLOAT), a string (STRING), a Tensor or TensorProto (TENSOR), a GraphProto (GRAPH), an array
 * of integers/bigints (INTS), floatsAttr() or an array with non-integers (FLOATS), an array of
 * strings (STRINGS).
 */
export type AttributeValue =
  number | bigint | string | FloatAttr | FloatsAttr | Tensor | TensorProto | GraphProto | readonly (number | bigint)[] | readonly string[];

function isProto(v: unknown, typeName: string): boolean {
  return typeof v === 'object' && v !== null && (v as { $typeName?: string }).$typeName === typeName;
}

export function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  const a = create(AttributeProtoSchema, { name });
  if (value instanceof FloatAttr) {
    a.type = ATTRIBUTE_TYPE.FLOAT;
    a.f = value.value;
  } else if (value instanceof FloatsAttr) {
    a.type = ATTRIBUTE_TYPE.FLOATS;
    a.floats = [...value.value];
  } else if (typeof value === 'bigint') {
    a.type = ATTRIBUTE_TYPE.INT;
    a.i = value;
  } else if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      a.type = ATTRIBUTE_TYPE.INT;
      a.i = BigInt(value);
    } else {
      a.type = ATTRIBUTE_TYPE.FLOAT;
      a.f = value;
    }
  } else if (typeof value === 'string') {
    a.type = ATTRIBUTE_TYPE.STRING;
    a.s = new TextEncoder().encode(value);
  } else if (value instanceof Tensor) {
    a.type = ATTRIBUTE_TYPE.TENSOR;
    a.t = tensorToProto(value);
  } else if (isProto(value, 'onnx.TensorProto')) {
    a.type = ATTRIBUTE_TYPE.TENSOR;
    a.t = value as TensorProto;
  } else if (isProto(value, 'onnx.GraphProto')) {
    a.type = ATTRIBUTE_TYPE.GRAPH;
    a.g = value as GraphProto;
  } else if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) {
      a.type = ATTRIBUTE_TYPE.STRINGS;
      a.strings = (value as string[]).map((s) => new TextEncoder().encode(s));
    } else if (value.every((v) => typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) {
      a.type = ATTRIBUTE_TYPE.INTS;
      a.ints = (value as (number | bigint)[]).map((v) => BigInt(v));
    } else if (value.every((v) => typeof v === 'number')) {
      a.type = ATTRIBUTE_TYPE.FLOATS;
      a.floats = [...(value as number[])];
    } else {
      throw new InvalidArgumentError(`attribute ${JSON.stringify(name)}: a list must hold only numbers or only strings`);
    }
  } else {
    throw new InvalidArgumentError(`attribute ${JSON.stringify(name)} has an unsupported value ${describe(value)}`);
  }
  return a;
}
