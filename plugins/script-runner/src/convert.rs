//! Between JavaScript values and the contract's: cells each way, whole columns as
//! JavaScript arrays, and JavaScript exceptions as plugin errors naming the script's line.

use quarry_plugin::{Column, Error};
use rquickjs::{Array, Ctx, Value, qjs};

use crate::rows::{self, Cell};

/// The file name errors give for the user's script.
pub const SCRIPT_NAME: &str = "script.js";

/// Turns a pending JS exception (or a Rust-side rquickjs error) into a plugin error. The
/// first line is `Name: message (script.js:LINE:COLUMN)`; the JS stack follows when it
/// has more than the one frame.
pub fn js_error(ctx: &Ctx<'_>, error: rquickjs::Error) -> Error {
    if !matches!(error, rquickjs::Error::Exception) {
        return Error::new(format!("QuickJS: {error}"));
    }
    let thrown = ctx.catch();
    let Some(exception) = thrown.as_exception() else {
        let shown = ctx
            .json_stringify(thrown.clone())
            .ok()
            .flatten()
            .and_then(|s| s.to_string().ok())
            .unwrap_or_else(|| thrown.type_name().to_owned());
        return Error::new(format!("the script threw {shown}"));
    };
    let message = exception.message().unwrap_or_default();
    let name: String = exception
        .get::<_, String>("name")
        .unwrap_or_else(|_| "Error".into());
    let stack = exception.stack().unwrap_or_default();
    let stack = stack.trim_end();
    let first = match location(stack) {
        Some(place) => format!("{name}: {message} ({place})"),
        None => format!("{name}: {message}"),
    };
    // One frame says no more than the location; more show the calls that led there.
    if stack.lines().count() > 1 {
        Error::new(format!("{first}\n{stack}"))
    } else {
        Error::new(first)
    }
}

/// The first `script.js:LINE:COLUMN` of a stack: where in the user's script it failed.
fn location(stack: &str) -> Option<&str> {
    let start = stack.find(SCRIPT_NAME)?;
    let rest = &stack[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

pub fn cell_to_js<'js>(ctx: &Ctx<'js>, cell: Cell<'_>) -> rquickjs::Result<Value<'js>> {
    Ok(match cell {
        Cell::Null => Value::new_null(ctx.clone()),
        Cell::Num(x) => Value::new_number(ctx.clone(), x),
        Cell::Int(x) => rquickjs::BigInt::from_i64(ctx.clone(), x)?.into_value(),
        Cell::Bool(b) => Value::new_bool(ctx.clone(), b),
        Cell::Str(s) => rquickjs::String::from_str(ctx.clone(), &s)?.into_value(),
    })
}

/// The cell for the JS `value` of row `row`; `name` names its column for an error.
pub fn js_cell<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    row: usize,
    name: impl FnOnce() -> String,
) -> Result<Cell<'static>, Error> {
    Ok(if value.is_null() || value.is_undefined() {
        Cell::Null
    } else if let Some(x) = value.as_number() {
        Cell::Num(x)
    } else if let Some(b) = value.as_bool() {
        Cell::Bool(b)
    } else if let Some(s) = value.as_string() {
        Cell::Str(s.to_string().map_err(|e| js_error(ctx, e))?.into())
    } else if let Some(big) = value.as_big_int() {
        Cell::Int(big.clone().to_i64().map_err(|_| {
            Error::at_row(
                row,
                format!("row {row}, `{}`: a BigInt beyond int64", name()),
            )
        })?)
    } else {
        return Err(Error::at_row(
            row,
            format!(
                "row {row}, `{}`: {} is not a cell value (number, BigInt, string, boolean or null)",
                name(),
                match value.type_name() {
                    kind @ ("object" | "array" | "undefined" | "int") => format!("an {kind}"),
                    kind => format!("a {kind}"),
                }
            ),
        ));
    })
}

/// Column `column` as a JavaScript array of its cells ([`rows::cell`] says how they look).
///
/// Made in one step as QuickJS makes an array literal (`JS_NewArrayFrom`), from values
/// made without a wrapper each (a wrapper holds a reference to the context).
pub fn column_array<'js>(ctx: &Ctx<'js>, column: &Column) -> rquickjs::Result<Array<'js>> {
    let raw_ctx = ctx.as_raw().as_ptr();
    let mut values = Raw::with_capacity(ctx, column.len());
    for row in 0..column.len() {
        // SAFETY: each value is owned and handed to `values`, which frees it on failure.
        let value = unsafe {
            match rows::cell(column, row) {
                Cell::Null => qjs::JS_NULL,
                Cell::Num(x) => qjs::JS_NewNumber(raw_ctx, x),
                Cell::Bool(b) => {
                    if b {
                        qjs::JS_TRUE
                    } else {
                        qjs::JS_FALSE
                    }
                }
                Cell::Str(s) => qjs::JS_NewStringLen(raw_ctx, s.as_ptr().cast(), s.len() as _),
                Cell::Int(x) => qjs::JS_NewBigInt64(raw_ctx, x),
            }
        };
        values.push(value)?;
    }
    values.into_array()
}

/// A JavaScript array holding `values`.
pub fn array_from<'js>(ctx: &Ctx<'js>, values: Vec<Value<'js>>) -> rquickjs::Result<Array<'js>> {
    let mut raw = Raw::with_capacity(ctx, values.len());
    for value in values {
        // SAFETY: a new reference for the array; dropping `value` releases ours.
        raw.push(unsafe { qjs::JS_DupValue(ctx.as_raw().as_ptr(), value.as_raw()) })?;
    }
    raw.into_array()
}

/// Owned raw values on their way into a new array.
struct Raw<'a, 'js> {
    ctx: &'a Ctx<'js>,
    values: Vec<qjs::JSValue>,
}

impl<'a, 'js> Raw<'a, 'js> {
    fn with_capacity(ctx: &'a Ctx<'js>, capacity: usize) -> Self {
        Raw {
            ctx,
            values: Vec::with_capacity(capacity),
        }
    }

    /// Takes over `value`, an owned value or the exception marker of a failed call.
    fn push(&mut self, value: qjs::JSValue) -> rquickjs::Result<()> {
        // SAFETY: a plain tag test.
        if unsafe { qjs::JS_IsException(value) } {
            return Err(rquickjs::Error::Exception);
        }
        self.values.push(value);
        Ok(())
    }

    fn into_array(mut self) -> rquickjs::Result<Array<'js>> {
        let values = std::mem::take(&mut self.values);
        let count = i32::try_from(values.len()).map_err(|_| rquickjs::Error::Allocation)?;
        // SAFETY: `values` holds `count` owned values of this context, which
        // JS_NewArrayFrom takes over (and frees if it fails); its result is an owned value
        // or the exception marker.
        let array = unsafe {
            let array = qjs::JS_NewArrayFrom(self.ctx.as_raw().as_ptr(), count, values.as_ptr());
            if qjs::JS_IsException(array) {
                return Err(rquickjs::Error::Exception);
            }
            Value::from_raw(self.ctx.clone(), array)
        };
        array.into_array().ok_or(rquickjs::Error::Unknown)
    }
}

impl Drop for Raw<'_, '_> {
    fn drop(&mut self) {
        for &value in &self.values {
            // SAFETY: values not handed to an array are still ours.
            unsafe { qjs::JS_FreeValue(self.ctx.as_raw().as_ptr(), value) };
        }
    }
}
