/**
 * The ONNX protobuf schema, written here from the ONNX IR specification's message and field
 * numbers (proto2, as ONNX uses) and turned into @bufbuild/protobuf descriptors at runtime:
 * a FileDescriptorProto built with the well-known-type schemas, then `createFileRegistry`.
 * No generated code and no copy of onnx.proto.
 *
 * Only the fields this project reads or writes are declared. Everything else a model holds
 * (newer IR fields, device configurations, per-node metadata...) is kept by protobuf-es as
 * unknown fields and written back unchanged, so a read/write round trip loses nothing.
 *
 * Choices that differ from onnx.proto on purpose, all wire-compatible:
 * - Enum-typed fields (AttributeProto.type, TensorProto.data_location) are declared int32:
 *   proto2 enums are closed, and an enum value newer than our schema would otherwise be
 *   moved to the unknown fields; as int32 it stays readable.
 * - int64 fields are bigint (protobuf-es's default): Slice ends like INT64_MAX must survive.
 * - TensorProto's typed data fields are `packed`, as ONNX declares them; the repeated scalars
 *   of AttributeProto and TensorProto.dims are not (proto2's default), also as ONNX does.
 * Fields are declared in field-number order, the order protobuf writes them in.
 */
import { create, type Message } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import { createFileRegistry } from '@bufbuild/protobuf';
import {
  FileDescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as FType,
  type DescriptorProto,
  type FieldDescriptorProto,
} from '@bufbuild/protobuf/wkt';

type Scalar = 'int32' | 'int64' | 'uint64' | 'float' | 'double' | 'string' | 'bytes';

interface FieldSpec {
  readonly name: string;
  readonly number: number;
  /** A scalar type or a message type name relative to the `onnx` package (e.g. "TensorProto"). */
  readonly type: Scalar | `msg:${string}`;
  readonly repeated?: boolean;
  readonly packed?: boolean;
  /** Index into the message's oneofs. */
  readonly oneof?: number;
}

interface MessageSpec {
  readonly name: string;
  readonly fields: readonly FieldSpec[];
  readonly oneofs?: readonly string[];
  readonly nested?: readonly MessageSpec[];
}

const SCALAR_TYPES: Record<Scalar, FType> = {
  int32: FType.INT32,
  int64: FType.INT64,
  uint64: FType.UINT64,
  float: FType.FLOAT,
  double: FType.DOUBLE,
  string: FType.STRING,
  bytes: FType.BYTES,
};

const f = (name: string, number: number, type: FieldSpec['type'], more: Partial<FieldSpec> = {}): FieldSpec => ({
  name,
  number,
  type,
  ...more,
});
const rep = (name: string, number: number, type: FieldSpec['type'], packed = false): FieldSpec => ({
  name,
  number,
  type,
  repeated: true,
  packed,
});

const MESSAGES: readonly MessageSpec[] = [
  {
    name: 'AttributeProto',
    fields: [
      f('name', 1, 'string'),
      f('f', 2, 'float'),
      f('i', 3, 'int64'),
      f('s', 4, 'bytes'),
      f('t', 5, 'msg:TensorProto'),
      f('g', 6, 'msg:GraphProto'),
      rep('floats', 7, 'float'),
      rep('ints', 8, 'int64'),
      rep('strings', 9, 'bytes'),
      rep('tensors', 10, 'msg:TensorProto'),
      rep('graphs', 11, 'msg:GraphProto'),
      f('doc_string', 13, 'string'),
      f('tp', 14, 'msg:TypeProto'),
      rep('type_protos', 15, 'msg:TypeProto'),
      f('type', 20, 'int32'),
      f('ref_attr_name', 21, 'string'),
      f('sparse_tensor', 22, 'msg:SparseTensorProto'),
      rep('sparse_tensors', 23, 'msg:SparseTensorProto'),
    ],
  },
  {
    name: 'ValueInfoProto',
    fields: [f('name', 1, 'string'), f('type', 2, 'msg:TypeProto'), f('doc_string', 3, 'string')],
  },
  {
    name: 'NodeProto',
    fields: [
      rep('input', 1, 'string'),
      rep('output', 2, 'string'),
      f('name', 3, 'string'),
      f('op_type', 4, 'string'),
      rep('attribute', 5, 'msg:AttributeProto'),
      f('doc_string', 6, 'string'),
      f('domain', 7, 'string'),
      f('overload', 8, 'string'),
    ],
  },
  {
    name: 'TrainingInfoProto',
    fields: [
      f('initialization', 1, 'msg:GraphProto'),
      f('algorithm', 2, 'msg:GraphProto'),
      rep('initialization_binding', 3, 'msg:StringStringEntryProto'),
      rep('update_binding', 4, 'msg:StringStringEntryProto'),
    ],
  },
  {
    name: 'ModelProto',
    fields: [
      f('ir_version', 1, 'int64'),
      f('producer_name', 2, 'string'),
      f('producer_version', 3, 'string'),
      f('domain', 4, 'string'),
      f('model_version', 5, 'int64'),
      f('doc_string', 6, 'string'),
      f('graph', 7, 'msg:GraphProto'),
      rep('opset_import', 8, 'msg:OperatorSetIdProto'),
      rep('metadata_props', 14, 'msg:StringStringEntryProto'),
      rep('training_info', 20, 'msg:TrainingInfoProto'),
      rep('functions', 25, 'msg:FunctionProto'),
    ],
  },
  {
    name: 'StringStringEntryProto',
    fields: [f('key', 1, 'string'), f('value', 2, 'string')],
  },
  {
    name: 'TensorAnnotation',
    fields: [f('tensor_name', 1, 'string'), rep('quant_parameter_tensor_names', 2, 'msg:StringStringEntryProto')],
  },
  {
    name: 'GraphProto',
    fields: [
      rep('node', 1, 'msg:NodeProto'),
      f('name', 2, 'string'),
      rep('initializer', 5, 'msg:TensorProto'),
      f('doc_string', 10, 'string'),
      rep('input', 11, 'msg:ValueInfoProto'),
      rep('output', 12, 'msg:ValueInfoProto'),
      rep('value_info', 13, 'msg:ValueInfoProto'),
      rep('quantization_annotation', 14, 'msg:TensorAnnotation'),
      rep('sparse_initializer', 15, 'msg:SparseTensorProto'),
      rep('metadata_props', 16, 'msg:StringStringEntryProto'),
    ],
  },
  {
    name: 'TensorProto',
    fields: [
      rep('dims', 1, 'int64'),
      f('data_type', 2, 'int32'),
      f('segment', 3, 'msg:TensorProto.Segment'),
      rep('float_data', 4, 'float', true),
      rep('int32_data', 5, 'int32', true),
      rep('string_data', 6, 'bytes'),
      rep('int64_data', 7, 'int64', true),
      f('name', 8, 'string'),
      f('raw_data', 9, 'bytes'),
      rep('double_data', 10, 'double', true),
      rep('uint64_data', 11, 'uint64', true),
      f('doc_string', 12, 'string'),
      rep('external_data', 13, 'msg:StringStringEntryProto'),
      f('data_location', 14, 'int32'),
      rep('metadata_props', 16, 'msg:StringStringEntryProto'),
    ],
    nested: [{ name: 'Segment', fields: [f('begin', 1, 'int64'), f('end', 2, 'int64')] }],
  },
  {
    name: 'SparseTensorProto',
    fields: [f('values', 1, 'msg:TensorProto'), f('indices', 2, 'msg:TensorProto'), rep('dims', 3, 'int64')],
  },
  {
    name: 'TensorShapeProto',
    fields: [rep('dim', 1, 'msg:TensorShapeProto.Dimension')],
    nested: [
      {
        name: 'Dimension',
        oneofs: ['value'],
        fields: [f('dim_value', 1, 'int64', { oneof: 0 }), f('dim_param', 2, 'string', { oneof: 0 }), f('denotation', 3, 'string')],
      },
    ],
  },
  {
    name: 'TypeProto',
    oneofs: ['value'],
    fields: [
      f('tensor_type', 1, 'msg:TypeProto.Tensor', { oneof: 0 }),
      f('sequence_type', 4, 'msg:TypeProto.Sequence', { oneof: 0 }),
      f('map_type', 5, 'msg:TypeProto.Map', { oneof: 0 }),
      f('denotation', 6, 'string'),
      f('sparse_tensor_type', 8, 'msg:TypeProto.SparseTensor', { oneof: 0 }),
      f('optional_type', 9, 'msg:TypeProto.Optional', { oneof: 0 }),
    ],
    nested: [
      { name: 'Tensor', fields: [f('elem_type', 1, 'int32'), f('shape', 2, 'msg:TensorShapeProto')] },
      { name: 'Sequence', fields: [f('elem_type', 1, 'msg:TypeProto')] },
      { name: 'Map', fields: [f('key_type', 1, 'int32'), f('value_type', 2, 'msg:TypeProto')] },
      { name: 'Optional', fields: [f('elem_type', 1, 'msg:TypeProto')] },
      { name: 'SparseTensor', fields: [f('elem_type', 1, 'int32'), f('shape', 2, 'msg:TensorShapeProto')] },
    ],
  },
  {
    name: 'OperatorSetIdProto',
    fields: [f('domain', 1, 'string'), f('version', 2, 'int64')],
  },
  {
    name: 'FunctionProto',
    fields: [
      f('name', 1, 'string'),
      rep('input', 4, 'string'),
      rep('output', 5, 'string'),
      rep('attribute', 6, 'string'),
      rep('node', 7, 'msg:NodeProto'),
      f('doc_string', 8, 'string'),
      rep('opset_import', 9, 'msg:OperatorSetIdProto'),
      f('domain', 10, 'string'),
      rep('attribute_proto', 11, 'msg:AttributeProto'),
      rep('value_info', 12, 'msg:ValueInfoProto'),
      f('overload', 13, 'string'),
    ],
  },
];

function fieldDescriptor(spec: FieldSpec): Partial<FieldDescriptorProto> {
  const isMessage = spec.type.startsWith('msg:');
  const fd: Partial<FieldDescriptorProto> = {
    name: spec.name,
    number: spec.number,
    label: spec.repeated ? Label.REPEATED : Label.OPTIONAL,
    type: isMessage ? FType.MESSAGE : SCALAR_TYPES[spec.type as Scalar],
  };
  if (isMessage) fd.typeName = `.onnx.${spec.type.slice(4)}`;
  if (spec.oneof !== undefined) fd.oneofIndex = spec.oneof;
  if (spec.packed) fd.options = { packed: true } as FieldDescriptorProto['options'];
  return fd;
}

function messageDescriptor(spec: MessageSpec): Partial<DescriptorProto> {
  return {
    name: spec.name,
    field: spec.fields.map(fieldDescriptor) as FieldDescriptorProto[],
    oneofDecl: (spec.oneofs ?? []).map((name) => ({ name })) as DescriptorProto['oneofDecl'],
    nestedType: (spec.nested ?? []).map(messageDescriptor) as DescriptorProto[],
  };
}

const file = create(FileDescriptorProtoSchema, {
  name: 'tensorrt_node/onnx.proto',
  package: 'onnx',
  syntax: 'proto2',
  messageType: MESSAGES.map(messageDescriptor) as DescriptorProto[],
});

const registry = createFileRegistry(file, () => undefined);

function schema<T extends Message>(name: string): GenMessage<T> {
  const desc = registry.getMessage(`onnx.${name}`);
  if (!desc) throw new Error(`internal: ONNX schema has no message ${name}`);
  return desc as unknown as GenMessage<T>;
}

// --- message types, as protobuf-es shapes them (lowerCamelCase fields) ---

export type StringStringEntryProto = Message<'onnx.StringStringEntryProto'> & { key: string; value: string };

export type OperatorSetIdProto = Message<'onnx.OperatorSetIdProto'> & { domain: string; version: bigint };

export type TensorProto_Segment = Message<'onnx.TensorProto.Segment'> & { begin: bigint; end: bigint };

export type TensorProto = Message<'onnx.TensorProto'> & {
  dims: bigint[];
  dataType: number;
  segment?: TensorProto_Segment;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: bigint[];
  name: string;
  rawData: Uint8Array;
  doubleData: number[];
  uint64Data: bigint[];
  docString: string;
  externalData: StringStringEntryProto[];
  /** 0 DEFAULT (data in this message), 1 EXTERNAL (data in external_data's file). */
  dataLocation: number;
  metadataProps: StringStringEntryProto[];
};

export type SparseTensorProto = Message<'onnx.SparseTensorProto'> & {
  values?: TensorProto;
  indices?: TensorProto;
  dims: bigint[];
};

export type TensorShapeProto_Dimension = Message<'onnx.TensorShapeProto.Dimension'> & {
  value: { case: 'dimValue'; value: bigint } | { case: 'dimParam'; value: string } | { case: undefined; value?: undefined };
  denotation: string;
};

export type TensorShapeProto = Message<'onnx.TensorShapeProto'> & { dim: TensorShapeProto_Dimension[] };

export type TypeProto_Tensor = Message<'onnx.TypeProto.Tensor'> & { elemType: number; shape?: TensorShapeProto };
export type TypeProto_SparseTensor = Message<'onnx.TypeProto.SparseTensor'> & { elemType: number; shape?: TensorShapeProto };
export type TypeProto_Sequence = Message<'onnx.TypeProto.Sequence'> & { elemType?: TypeProto };
export type TypeProto_Optional = Message<'onnx.TypeProto.Optional'> & { elemType?: TypeProto };
export type TypeProto_Map = Message<'onnx.TypeProto.Map'> & { keyType: number; valueType?: TypeProto };

export type TypeProto = Message<'onnx.TypeProto'> & {
  value:
    | { case: 'tensorType'; value: TypeProto_Tensor }
    | { case: 'sequenceType'; value: TypeProto_Sequence }
    | { case: 'mapType'; value: TypeProto_Map }
    | { case: 'sparseTensorType'; value: TypeProto_SparseTensor }
    | { case: 'optionalType'; value: TypeProto_Optional }
    | { case: undefined; value?: undefined };
  denotation: string;
};

export type ValueInfoProto = Message<'onnx.ValueInfoProto'> & { name: string; type?: TypeProto; docString: string };

export type AttributeProto = Message<'onnx.AttributeProto'> & {
  name: string;
  f: number;
  i: bigint;
  s: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats: number[];
  ints: bigint[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  docString: string;
  tp?: TypeProto;
  typeProtos: TypeProto[];
  /** An AttributeType value (see ATTRIBUTE_TYPE). */
  type: number;
  refAttrName: string;
  sparseTensor?: SparseTensorProto;
  sparseTensors: SparseTensorProto[];
};

export type NodeProto = Message<'onnx.NodeProto'> & {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  attribute: AttributeProto[];
  docString: string;
  domain: string;
  overload: string;
};

export type TensorAnnotation = Message<'onnx.TensorAnnotation'> & {
  tensorName: string;
  quantParameterTensorNames: StringStringEntryProto[];
};

export type GraphProto = Message<'onnx.GraphProto'> & {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  docString: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation: TensorAnnotation[];
  sparseInitializer: SparseTensorProto[];
  metadataProps: StringStringEntryProto[];
};

export type TrainingInfoProto = Message<'onnx.TrainingInfoProto'> & {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initializationBinding: StringStringEntryProto[];
  updateBinding: StringStringEntryProto[];
};

export type FunctionProto = Message<'onnx.FunctionProto'> & {
  name: string;
  input: string[];
  output: string[];
  attribute: string[];
  node: NodeProto[];
  docString: string;
  opsetImport: OperatorSetIdProto[];
  domain: string;
  attributeProto: AttributeProto[];
  valueInfo: ValueInfoProto[];
  overload: string;
};

export type ModelProto = Message<'onnx.ModelProto'> & {
  irVersion: bigint;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: bigint;
  docString: string;
  graph?: GraphProto;
  opsetImport: OperatorSetIdProto[];
  metadataProps: StringStringEntryProto[];
  trainingInfo: TrainingInfoProto[];
  functions: FunctionProto[];
};

export const StringStringEntryProtoSchema = schema<StringStringEntryProto>('StringStringEntryProto');
export const OperatorSetIdProtoSchema = schema<OperatorSetIdProto>('OperatorSetIdProto');
export const TensorProtoSchema = schema<TensorProto>('TensorProto');
export const TensorProto_SegmentSchema = schema<TensorProto_Segment>('TensorProto.Segment');
export const SparseTensorProtoSchema = schema<SparseTensorProto>('SparseTensorProto');
export const TensorShapeProtoSchema = schema<TensorShapeProto>('TensorShapeProto');
export const TensorShapeProto_DimensionSchema = schema<TensorShapeProto_Dimension>('TensorShapeProto.Dimension');
export const TypeProtoSchema = schema<TypeProto>('TypeProto');
export const TypeProto_TensorSchema = schema<TypeProto_Tensor>('TypeProto.Tensor');
export const ValueInfoProtoSchema = schema<ValueInfoProto>('ValueInfoProto');
export const AttributeProtoSchema = schema<AttributeProto>('AttributeProto');
export const NodeProtoSchema = schema<NodeProto>('NodeProto');
export const GraphProtoSchema = schema<GraphProto>('GraphProto');
export const FunctionProtoSchema = schema<FunctionProto>('FunctionProto');
export const ModelProtoSchema = schema<ModelProto>('ModelProto');

/** AttributeProto.AttributeType values. */
export const ATTRIBUTE_TYPE = Object.freeze({
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
});

/** TensorProto.DataType values. */
export const TENSOR_TYPE = Object.freeze({
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
});

/** TensorProto.DataLocation values. */
export const DATA_LOCATION = Object.freeze({ DEFAULT: 0, EXTERNAL: 1 });
