//! `transformColumns(columns, length)`: each batch as one object of column arrays that
//! cost nothing until the script touches them, and back as an edit of only the columns
//! it replaced, changed or added.
//!
//! A column becomes a JavaScript array the first time the script reads its property (then
//! it stays a plain property); one it never reads is never converted, and the host keeps
//! it as it was. When the script returns nothing (or the same object), an array it read
//! is compared with the batch on the way out and sent back only if it changed. A script
//! that deletes a column, reorders them or returns an object of its own replaces the
//! whole batch, as before.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use quarry_plugin::{Batch, Column, DataType, Error};
use rquickjs::{Array, Ctx, Exception, Function, Object, Value};

use crate::convert::{column_array, js_cell, js_error};
use crate::rows::{self, Cell, Output};

/// What a transform made of one batch.
pub enum Change {
    /// These columns replace or follow the input's; every input row stays.
    Edit(Vec<Column>),
    /// These rows replace the batch.
    Rows(Batch),
}

thread_local! {
    /// The batch now lent to the script, with its serial number: the columns object's
    /// accessors load from it, and an accessor of an earlier batch's object fails.
    static LENT: RefCell<Option<(u64, Rc<Batch>)>> = const { RefCell::new(None) };
    static SERIAL: RefCell<u64> = const { RefCell::new(0) };
}

/// Defines the helpers (`__quarry_columns`, `__quarry_edits`) over the native loader.
const PRELUDE: &str = r#"
(() => {
  const load = globalThis.__quarry_column;
  delete globalThis.__quarry_column;
  const plain = (value) => ({ value, writable: true, enumerable: true, configurable: true });
  // The columns object of batch `serial`: an accessor per column that loads it on first
  // touch and then becomes a plain property. `loaded` keeps what was handed out.
  globalThis.__quarry_columns = (serial, names) => {
    const columns = {};
    const loaded = new Array(names.length);
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      Object.defineProperty(columns, name, {
        get() {
          const value = load(serial, i);
          loaded[i] = value;
          Object.defineProperty(columns, name, plain(value));
          return value;
        },
        set(value) { Object.defineProperty(columns, name, plain(value)); },
        enumerable: true,
        configurable: true,
      });
    }
    return [columns, loaded];
  };
  // What became of each input column (0 never touched, 1 the array handed out, perhaps
  // changed in place, 2 replaced) and the names added after them; null when a column
  // was deleted or the columns were reordered.
  globalThis.__quarry_edits = (columns, names, loaded) => {
    const keys = Object.keys(columns);
    const status = new Array(names.length);
    for (let i = 0; i < names.length; i++) {
      if (keys[i] !== names[i]) return null;
      const property = Object.getOwnPropertyDescriptor(columns, names[i]);
      status[i] = property.get ? 0 : property.value === loaded[i] ? 1 : 2;
    }
    return [status, keys.slice(names.length)];
  };
})();
"#;

/// Installs the loader and the helpers in a new context, before the user's script.
pub fn install<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<()> {
    let load = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, serial: f64, index: usize| -> rquickjs::Result<Value<'js>> {
            LENT.with_borrow(|lent| match lent {
            Some((now, batch)) if *now as f64 == serial && index < batch.num_columns() => {
                column_array(&ctx, &batch.columns()[index]).map(Array::into_value)
            }
            _ => Err(Exception::throw_message(
                &ctx,
                "this columns object belonged to an earlier batch: keep the arrays you need, not the object",
            )),
        })
        },
    )?;
    ctx.globals().set("__quarry_column", load)?;
    ctx.eval::<(), _>(PRELUDE)
}

/// Lends `input` to the loader until dropped.
struct Lend(u64);

impl Lend {
    fn new(input: Rc<Batch>) -> Self {
        let serial = SERIAL.with_borrow_mut(|serial| {
            *serial += 1;
            *serial
        });
        LENT.set(Some((serial, input)));
        Lend(serial)
    }
}

impl Drop for Lend {
    fn drop(&mut self) {
        LENT.set(None);
    }
}

/// Runs `transform_columns` over `input`; `earlier` has the types of the run's output
/// columns so far.
pub fn transform<'js>(
    ctx: &Ctx<'js>,
    transform_columns: Function<'js>,
    input: Batch,
    earlier: &HashMap<String, DataType>,
) -> Result<Change, Error> {
    let js = |e| js_error(ctx, e);
    let input = Rc::new(input);
    let names = Array::new(ctx.clone()).map_err(js)?;
    for (index, column) in input.columns().iter().enumerate() {
        names.set(index, column.name()).map_err(js)?;
    }
    let globals = ctx.globals();
    let lend = Lend::new(input.clone());
    let make: Function = globals.get("__quarry_columns").map_err(js)?;
    let made: Array = make.call((lend.0 as f64, names.clone())).map_err(js)?;
    let (columns, loaded): (Object, Array) = (made.get(0).map_err(js)?, made.get(1).map_err(js)?);
    let result: Value = transform_columns
        .call((columns.clone(), input.num_rows()))
        .map_err(js)?;
    let in_place = result.is_undefined() || result == *columns.as_value();
    if in_place {
        let edits: Function = globals.get("__quarry_edits").map_err(js)?;
        let edits: Value = edits.call((columns.clone(), names, loaded)).map_err(js)?;
        if let Some(edits) = edits.as_array() {
            let status: Vec<i32> = edits.get(0).map_err(js)?;
            let added: Vec<String> = edits.get(1).map_err(js)?;
            return edit(ctx, &columns, &input, earlier, &status, &added).map(Change::Edit);
        }
    }
    let result = if result.is_undefined() {
        columns.into_value()
    } else {
        result
    };
    let whole = whole(ctx, result, &input, earlier).map(Change::Rows);
    drop(lend);
    whole
}

/// The columns to send back when the script kept the columns object: those it replaced,
/// changed in place or added.
fn edit<'js>(
    ctx: &Ctx<'js>,
    columns: &Object<'js>,
    input: &Batch,
    earlier: &HashMap<String, DataType>,
    status: &[i32],
    added: &[String],
) -> Result<Vec<Column>, Error> {
    let js = |e| js_error(ctx, e);
    let rows = input.num_rows();
    let mut output = Output::new(input, earlier);
    let mut send = |name: &str, value: Value<'js>| -> Result<(), Error> {
        let index = output.add_column(name);
        let len = push_values(ctx, &mut output, index, name, value)?;
        if len != rows {
            return Err(Error::new(format!(
                "transformColumns: column `{name}` has {len} values, but the batch has {rows} rows"
            )));
        }
        Ok(())
    };
    for (column, &status) in input.columns().iter().zip(status) {
        let name = column.name();
        match status {
            0 => {}
            1 => {
                let value: Value = columns.get(name).map_err(js)?;
                if !same(ctx, &value, column)? {
                    send(name, value)?;
                }
            }
            _ => send(name, columns.get(name).map_err(js)?)?,
        }
    }
    for name in added {
        send(name, columns.get(name.as_str()).map_err(js)?)?;
    }
    Ok(output.finish()?.into_columns())
}

/// Whether the array `value` (handed out for `column`) still holds the column's cells.
fn same<'js>(ctx: &Ctx<'js>, value: &Value<'js>, column: &Column) -> Result<bool, Error> {
    let js = |e| js_error(ctx, e);
    let Some(array) = value.as_array() else {
        return Ok(false);
    };
    if array.len() != column.len() {
        return Ok(false);
    }
    for row in 0..column.len() {
        let value: Value = array.get(row).map_err(js)?;
        let unchanged = match rows::cell(column, row) {
            Cell::Null => value.is_null(),
            Cell::Num(x) => value
                .as_number()
                .is_some_and(|y| y == x || (x.is_nan() && y.is_nan())),
            Cell::Bool(b) => value.as_bool() == Some(b),
            Cell::Str(s) => value
                .as_string()
                .is_some_and(|v| v.to_string().is_ok_and(|v| v == s)),
            Cell::Int(_) => false,
        };
        if !unchanged {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The batch for the object of column arrays `value` that `transformColumns` returned
/// (or kept, having deleted or reordered columns).
fn whole<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    input: &Batch,
    earlier: &HashMap<String, DataType>,
) -> Result<Batch, Error> {
    let js = |e| js_error(ctx, e);
    let Some(object) = value.as_object().filter(|o| !o.is_array()) else {
        return Err(Error::new(format!(
            "transformColumns must return an object of column arrays ({{name: [values]}}), not {}",
            if value.is_array() {
                "an array"
            } else {
                value.type_name()
            }
        )));
    };
    let mut output = Output::new(input, earlier);
    // The first column's name and length: every column must have as many values.
    let mut first: Option<(String, usize)> = None;
    for prop in object.props::<String, Value>() {
        let (name, values) = prop.map_err(js)?;
        let column = output.add_column(&name);
        let len = push_values(ctx, &mut output, column, &name, values)?;
        match &first {
            None => first = Some((name, len)),
            Some((first, rows)) if *rows != len => {
                return Err(Error::new(format!(
                    "transformColumns: column `{name}` has {len} values, but `{first}` has {rows}"
                )));
            }
            Some(_) => {}
        }
    }
    output.finish()
}

/// Appends the values of the array (or typed array) `value` to column `column` of
/// `output`; returns how many there were.
fn push_values<'js>(
    ctx: &Ctx<'js>,
    output: &mut Output<'_>,
    column: usize,
    name: &str,
    value: Value<'js>,
) -> Result<usize, Error> {
    if let Some(array) = value.as_array() {
        for row in 0..array.len() {
            let value: Value = array.get(row).map_err(|e| js_error(ctx, e))?;
            output.push(column, js_cell(ctx, value, row, || name.to_owned())?)?;
        }
        return Ok(array.len());
    }
    // A typed array: its numbers straight from its buffer.
    macro_rules! typed {
        ($object:expr, $($item:ty => $cell:expr),* $(,)?) => {
            $(if let Some(array) = $object.as_typed_array::<$item>() {
                // SAFETY: no JavaScript runs while the slice is read.
                let bytes = unsafe { array.as_bytes() }.unwrap_or_default();
                let size = std::mem::size_of::<$item>();
                for chunk in bytes.chunks_exact(size) {
                    let item = <$item>::from_le_bytes(chunk.try_into().expect("one item's bytes"));
                    output.push(column, ($cell)(item))?;
                }
                return Ok(bytes.len() / size);
            })*
        };
    }
    if let Some(object) = value.as_object() {
        typed!(object,
            f64 => Cell::Num,
            f32 => |x: f32| Cell::Num(x.into()),
            i32 => |x: i32| Cell::Num(x.into()),
            u32 => |x: u32| Cell::Num(x.into()),
            i16 => |x: i16| Cell::Num(x.into()),
            u16 => |x: u16| Cell::Num(x.into()),
            i8 => |x: i8| Cell::Num(x.into()),
            u8 => |x: u8| Cell::Num(x.into()),
            i64 => Cell::Int,
        );
    }
    Err(Error::new(format!(
        "transformColumns: column `{name}` must be an array, not {}",
        value.type_name()
    )))
}
