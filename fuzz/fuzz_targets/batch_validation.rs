//! Batch validation of plugin output: whatever a plugin returns, `validate` must not panic,
//! and a batch it accepts must be safe to read, every cell of every row.

#![no_main]

use arbitrary::Arbitrary;
use quarry_core::batch::{Batch, Column, DataType, Values, VarData};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    num_rows: u16,
    columns: Vec<ColumnInput>,
}

#[derive(Arbitrary, Debug)]
struct ColumnInput {
    data_type: u8,
    validity: Option<Vec<u8>>,
    values: ValuesInput,
}

#[derive(Arbitrary, Debug)]
enum ValuesInput {
    Boolean(Vec<bool>),
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    Text { offsets: Vec<u32>, data: Vec<u8> },
    Bytes { offsets: Vec<u32>, data: Vec<u8> },
}

fuzz_target!(|input: Input| {
    let columns = input
        .columns
        .into_iter()
        .enumerate()
        .map(|(i, c)| Column {
            name: format!("c{i}"),
            data_type: DataType::ALL[c.data_type as usize % DataType::ALL.len()],
            validity: c.validity,
            values: match c.values {
                ValuesInput::Boolean(v) => Values::Boolean(v),
                ValuesInput::Int64(v) => Values::Int64(v),
                ValuesInput::Float64(v) => Values::Float64(v),
                ValuesInput::Text { offsets, data } => Values::Text(VarData { offsets, data }),
                ValuesInput::Bytes { offsets, data } => Values::Bytes(VarData { offsets, data }),
            },
        })
        .collect();
    let batch = Batch {
        num_rows: input.num_rows as usize,
        columns,
    };
    if batch.validate().is_ok() {
        for column in &batch.columns {
            for row in 0..batch.num_rows {
                std::hint::black_box(column.cell(row));
            }
        }
    }
});
