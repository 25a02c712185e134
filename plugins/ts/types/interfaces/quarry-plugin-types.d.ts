declare module 'quarry:plugin/types@0.2.0' {
  /**
   * Logical type of a column; each case names the `vector` case that holds it.
   * # Variants
   * 
   * ## `"boolean"`
   * 
   * vector: boolean
   * ## `"int64"`
   * 
   * vector: int64
   * ## `"float64"`
   * 
   * vector: float64
   * ## `"text"`
   * 
   * vector: text (UTF-8)
   * ## `"bytes"`
   * 
   * vector: bytes
   * ## `"timestamp"`
   * 
   * vector: int64, microseconds since 1970-01-01T00:00:00Z
   * ## `"date"`
   * 
   * vector: int64, days since 1970-01-01
   * ## `"uuid"`
   * 
   * vector: text, canonical lowercase hyphenated
   * ## `"decimal"`
   * 
   * vector: text, an exact decimal literal such as "-12.3400"
   * ## `"json"`
   * 
   * vector: text, JSON (nested documents, arrays, maps, sets, tuples, UDTs)
   */
  export type DataType = 'boolean' | 'int64' | 'float64' | 'text' | 'bytes' | 'timestamp' | 'date' | 'uuid' | 'decimal' | 'json';
  /**
   * Arrow layout: value i is data[offsets[i]..offsets[i+1]]; num-rows + 1 offsets, first is 0.
   */
  export interface VarData {
    offsets: Uint32Array,
    data: Uint8Array,
  }
  /**
   * One entry per row (a null row holds any placeholder).
   */
  export type Vector = VectorBoolean | VectorInt64 | VectorFloat64 | VectorText | VectorBytes;
  export interface VectorBoolean {
    tag: 'boolean',
    val: Array<boolean>,
  }
  export interface VectorInt64 {
    tag: 'int64',
    val: BigInt64Array,
  }
  export interface VectorFloat64 {
    tag: 'float64',
    val: Float64Array,
  }
  export interface VectorText {
    tag: 'text',
    val: VarData,
  }
  export interface VectorBytes {
    tag: 'bytes',
    val: VarData,
  }
  export interface Column {
    name: string,
    dataType: DataType,
    /**
     * Arrow validity bitmap, LSB first: bit i set = row i has a value; none = no nulls.
     */
    validity?: Uint8Array,
    values: Vector,
  }
  /**
   * A slice of a result set; every column holds exactly num-rows entries.
   */
  export interface Batch {
    numRows: number,
    columns: Array<Column>,
  }
  /**
   * A scalar, for query parameters.
   */
  export type Value = ValueNull | ValueBoolean | ValueInt64 | ValueFloat64 | ValueText | ValueBytes;
  export interface ValueNull {
    tag: 'null',
  }
  export interface ValueBoolean {
    tag: 'boolean',
    val: boolean,
  }
  export interface ValueInt64 {
    tag: 'int64',
    val: bigint,
  }
  export interface ValueFloat64 {
    tag: 'float64',
    val: number,
  }
  export interface ValueText {
    tag: 'text',
    val: string,
  }
  export interface ValueBytes {
    tag: 'bytes',
    val: Uint8Array,
  }
  /**
   * # Variants
   * 
   * ## `"sqlite"`
   * 
   * ## `"postgres"`
   * 
   * ## `"cockroach"`
   * 
   * ## `"scylla"`
   * 
   * ## `"mongo"`
   */
  export type Backend = 'sqlite' | 'postgres' | 'cockroach' | 'scylla' | 'mongo';
  export interface Source {
    name: string,
    backend: Backend,
  }
  /**
   * Placeholders are the backend's own: ?1 or ? (sqlite), $1 (postgres, cockroach), ? (scylla).
   */
  export interface Statement {
    text: string,
    params: Array<Value>,
  }
  /**
   * JSON fields are MongoDB Extended JSON (relaxed).
   */
  export interface MongoFind {
    collection: string,
    filter: string,
    projection?: string,
    sort?: string,
    skip?: bigint,
    limit?: bigint,
  }
  export interface MongoAggregate {
    collection: string,
    pipeline: string,
  }
  export type Query = QuerySql | QueryCql | QueryMongoFind | QueryMongoAggregate;
  export interface QuerySql {
    tag: 'sql',
    val: Statement,
  }
  export interface QueryCql {
    tag: 'cql',
    val: Statement,
  }
  export interface QueryMongoFind {
    tag: 'mongo-find',
    val: MongoFind,
  }
  export interface QueryMongoAggregate {
    tag: 'mongo-aggregate',
    val: MongoAggregate,
  }
  export interface PluginInfo {
    name: string,
    version: string,
    description: string,
    /**
     * JSON Schema of the params object, when the plugin takes params.
     */
    paramsSchema?: string,
    buildsQuery: boolean,
    transforms: boolean,
    /**
     * The input columns `transform` reads, by name; none = all of them. Only these
     * cross into the plugin; the host keeps the others for the output. A plugin whose
     * columns depend on its params narrows this per run from `init`.
     */
    reads?: Array<string>,
    /**
     * `transform` keeps no state from one batch to the next (a map, a filter), so the
     * host may send batches through several instances at once.
     */
    stateless: boolean,
  }
  /**
   * An edit of the input batch, applied by the host to the whole batch (every column,
   * read or not): `rows` selects rows, then `columns` replace the input columns of the
   * same name in place or, named otherwise, are appended in order. Each holds one entry
   * per selected row.
   */
  export interface Edit {
    /**
     * Indices into the input batch of the rows to output, in output order; none = all.
     */
    rows?: Uint32Array,
    columns: Array<Column>,
  }
  /**
   * What `transform` returns.
   */
  export type Output = OutputEdit | OutputRows;
  /**
   * The input rows, edited: a map or a filter sends back only what it changes.
   */
  export interface OutputEdit {
    tag: 'edit',
    val: Edit,
  }
  /**
   * These rows instead of the input's (a reshaping transform).
   */
  export interface OutputRows {
    tag: 'rows',
    val: Batch,
  }
  /**
   * `row` is the index, within the batch, of the row that caused the error.
   */
  export interface PluginError {
    message: string,
    row?: number,
  }
  /**
   * # Variants
   * 
   * ## `"trace"`
   * 
   * ## `"debug"`
   * 
   * ## `"info"`
   * 
   * ## `"warn"`
   * 
   * ## `"error"`
   */
  export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
}
