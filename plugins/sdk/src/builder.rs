//! Building columns: typed builders that keep the validity bitmap and the offsets.

use crate::raw::{VarData, Vector};
use crate::{Column, DataType};

/// An Arrow validity bitmap under construction. It stays unallocated until the first
/// null, so a column without nulls gets `None`, as the contract prefers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Validity {
    bits: Option<Vec<u8>>,
    len: usize,
}

impl Validity {
    #[inline]
    pub(crate) fn push(&mut self, valid: bool) {
        let bits = match &mut self.bits {
            Some(bits) => bits,
            None if valid => {
                self.len += 1;
                return;
            }
            None => self.bits.insert(all_valid(self.len)),
        };
        let bit = self.len % 8;
        if bit == 0 {
            bits.push(0);
        }
        if let Some(last) = bits.last_mut() {
            *last |= u8::from(valid) << bit;
        }
        self.len += 1;
    }

    pub(crate) fn into_bitmap(self) -> Option<Vec<u8>> {
        self.bits
    }
}

/// A bitmap with the first `len` bits set (LSB first) and the padding bits clear.
#[cold]
fn all_valid(len: usize) -> Vec<u8> {
    let mut bits = vec![0xff; len / 8];
    if !len.is_multiple_of(8) {
        bits.push((1u8 << (len % 8)) - 1);
    }
    bits
}

/// Offsets plus bytes of a text or bytes vector under construction.
#[derive(Clone, Debug)]
pub(crate) struct VarBuilder {
    offsets: Vec<u32>,
    data: Vec<u8>,
}

impl Default for VarBuilder {
    fn default() -> Self {
        VarBuilder {
            offsets: vec![0],
            data: Vec::new(),
        }
    }
}

impl VarBuilder {
    #[inline]
    pub(crate) fn push(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        // Wasm32 memory tops out at 4 GiB, so this only fails on a native 64-bit build.
        let end = u32::try_from(self.data.len()).expect("a column's data exceeds 4 GiB");
        self.offsets.push(end);
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn reserve(&mut self, rows: usize) {
        self.offsets.reserve(rows);
    }

    pub(crate) fn finish(self) -> VarData {
        VarData {
            offsets: self.offsets,
            data: self.data,
        }
    }
}

/// Builders of fixed-width columns share everything but the element type.
macro_rules! fixed_builder {
    (
        $(#[$doc:meta])*
        $builder:ident, $item:ty, $vector:ident, $default_type:ident
        $(, $(#[$ctor_doc:meta])* $ctor:ident => $data_type:ident)*
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $builder {
            name: String,
            data_type: DataType,
            validity: Validity,
            values: Vec<$item>,
        }

        impl $builder {
            #[doc = concat!("A builder of a `", stringify!($default_type), "` column.")]
            pub fn new(name: impl Into<String>) -> Self {
                Self::of_type(name.into(), DataType::$default_type)
            }

            $(
                $(#[$ctor_doc])*
                pub fn $ctor(name: impl Into<String>) -> Self {
                    Self::of_type(name.into(), DataType::$data_type)
                }
            )*

            fn of_type(name: String, data_type: DataType) -> Self {
                $builder {
                    name,
                    data_type,
                    validity: Validity::default(),
                    values: Vec::new(),
                }
            }

            /// Makes room for `rows` more values: one allocation instead of several
            /// when the number of rows is known, as in a map.
            pub fn reserve(&mut self, rows: usize) {
                self.values.reserve(rows);
            }

            /// Appends a value, or a null for `None`.
            #[inline]
            pub fn push(&mut self, value: Option<$item>) {
                self.validity.push(value.is_some());
                self.values.push(value.unwrap_or_default());
            }

            /// Appends a null.
            pub fn push_null(&mut self) {
                self.push(None);
            }

            /// The number of rows pushed so far.
            pub fn len(&self) -> usize {
                self.values.len()
            }

            /// Whether nothing was pushed yet.
            pub fn is_empty(&self) -> bool {
                self.values.is_empty()
            }

            /// The finished column.
            pub fn finish(self) -> Column {
                Column::assemble(
                    self.name,
                    self.data_type,
                    self.validity.into_bitmap(),
                    Vector::$vector(self.values),
                )
            }
        }

        impl Extend<Option<$item>> for $builder {
            fn extend<I: IntoIterator<Item = Option<$item>>>(&mut self, values: I) {
                for value in values {
                    self.push(value);
                }
            }
        }
    };
}

fixed_builder!(
    /// Builds a boolean column.
    BoolBuilder, bool, Boolean, Boolean
);

fixed_builder!(
    /// Builds an int64-stored column: int64, timestamp or date.
    Int64Builder, i64, Int64, Int64,
    /// A builder of a `timestamp` column: microseconds since 1970-01-01T00:00:00Z.
    timestamp => Timestamp,
    /// A builder of a `date` column: days since 1970-01-01.
    date => Date
);

fixed_builder!(
    /// Builds a float64 column.
    Float64Builder, f64, Float64, Float64
);

/// Builds a text-stored column: text, uuid, decimal or json.
#[derive(Clone, Debug)]
pub struct TextBuilder {
    name: String,
    data_type: DataType,
    validity: Validity,
    values: VarBuilder,
}

impl TextBuilder {
    /// A builder of a `text` column.
    pub fn new(name: impl Into<String>) -> Self {
        Self::of_type(name.into(), DataType::Text)
    }

    /// A builder of a `uuid` column: canonical lowercase hyphenated text.
    pub fn uuid(name: impl Into<String>) -> Self {
        Self::of_type(name.into(), DataType::Uuid)
    }

    /// A builder of a `decimal` column: exact decimal literals such as `"-12.3400"`.
    pub fn decimal(name: impl Into<String>) -> Self {
        Self::of_type(name.into(), DataType::Decimal)
    }

    /// A builder of a `json` column: one JSON document per row.
    pub fn json(name: impl Into<String>) -> Self {
        Self::of_type(name.into(), DataType::Json)
    }

    fn of_type(name: String, data_type: DataType) -> Self {
        TextBuilder {
            name,
            data_type,
            validity: Validity::default(),
            values: VarBuilder::default(),
        }
    }

    /// Makes room for `rows` more values (their offsets; the bytes grow as needed).
    pub fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows);
    }

    /// Appends a value, or a null for `None`.
    #[inline]
    pub fn push(&mut self, value: Option<&str>) {
        self.validity.push(value.is_some());
        self.values.push(value.unwrap_or_default().as_bytes());
    }

    /// Appends a null.
    pub fn push_null(&mut self) {
        self.push(None);
    }

    /// The number of rows pushed so far.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The finished column.
    pub fn finish(self) -> Column {
        let values = Vector::Text(self.values.finish());
        Column::assemble(
            self.name,
            self.data_type,
            self.validity.into_bitmap(),
            values,
        )
    }
}

impl<S: AsRef<str>> Extend<Option<S>> for TextBuilder {
    fn extend<I: IntoIterator<Item = Option<S>>>(&mut self, values: I) {
        for value in values {
            self.push(value.as_ref().map(AsRef::as_ref));
        }
    }
}

/// Builds a bytes column.
#[derive(Clone, Debug)]
pub struct BytesBuilder {
    name: String,
    validity: Validity,
    values: VarBuilder,
}

impl BytesBuilder {
    /// A builder of a `bytes` column.
    pub fn new(name: impl Into<String>) -> Self {
        BytesBuilder {
            name: name.into(),
            validity: Validity::default(),
            values: VarBuilder::default(),
        }
    }

    /// Makes room for `rows` more values (their offsets; the bytes grow as needed).
    pub fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows);
    }

    /// Appends a value, or a null for `None`.
    #[inline]
    pub fn push(&mut self, value: Option<&[u8]>) {
        self.validity.push(value.is_some());
        self.values.push(value.unwrap_or_default());
    }

    /// Appends a null.
    pub fn push_null(&mut self) {
        self.push(None);
    }

    /// The number of rows pushed so far.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The finished column.
    pub fn finish(self) -> Column {
        let values = Vector::Bytes(self.values.finish());
        Column::assemble(
            self.name,
            DataType::Bytes,
            self.validity.into_bitmap(),
            values,
        )
    }
}

impl<B: AsRef<[u8]>> Extend<Option<B>> for BytesBuilder {
    fn extend<I: IntoIterator<Item = Option<B>>>(&mut self, values: I) {
        for value in values {
            self.push(value.as_ref().map(AsRef::as_ref));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitmap(valid: &[bool]) -> Option<Vec<u8>> {
        let mut validity = Validity::default();
        valid.iter().for_each(|&v| validity.push(v));
        validity.into_bitmap()
    }

    #[test]
    fn validity_is_none_without_nulls_and_lsb_first_with_them() {
        assert_eq!(bitmap(&[true; 20]), None);
        assert_eq!(bitmap(&[]), None);
        assert_eq!(bitmap(&[false]), Some(vec![0b0]));
        // Rows 0..9 valid except rows 1 and 8: the first null comes after 8 valid rows
        // would have been pushed without a bitmap.
        let valid = [true, false, true, true, true, true, true, true, false, true];
        assert_eq!(bitmap(&valid), Some(vec![0b1111_1101, 0b10]));
        let mut late = [true; 11];
        late[10] = false;
        assert_eq!(bitmap(&late), Some(vec![0xff, 0b011]));
    }

    #[test]
    fn builders_write_placeholders_and_offsets() {
        let mut ints = Int64Builder::timestamp("time_hour");
        ints.extend([Some(7), None]);
        assert_eq!(ints.len(), 2);
        let raw = ints.finish().into_raw();
        assert_eq!(raw.data_type, DataType::Timestamp);
        assert_eq!(raw.values, Vector::Int64(vec![7, 0]));
        assert_eq!(raw.validity, Some(vec![0b01]));

        let mut text = TextBuilder::json("doc");
        text.push(Some("{}"));
        text.push_null();
        text.push(Some("[1]"));
        let raw = text.finish().into_raw();
        assert_eq!(raw.data_type, DataType::Json);
        let Vector::Text(var) = raw.values else {
            panic!("not text")
        };
        assert_eq!(var.offsets, [0, 2, 2, 5]);
        assert_eq!(var.data, b"{}[1]");

        let empty = BoolBuilder::new("flag");
        assert!(empty.is_empty());
        assert_eq!(empty.finish().into_raw().values, Vector::Boolean(vec![]));

        let bytes = BytesBuilder::new("blob").finish().into_raw();
        assert_eq!(
            bytes.values,
            Vector::Bytes(VarData {
                offsets: vec![0],
                data: vec![]
            })
        );
    }
}
