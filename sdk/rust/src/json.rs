//! A small JSON value type, its parser and serializer, and the traits that
//! move Rust values in and out of it. Values cross the journal as JSON text
//! (step outputs, cursors, effect results, signal payloads, the run's input
//! and output); serde is not available to guests built without crates.io, so
//! the SDK carries its own.

use crate::Error;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Json is a JSON value. Objects keep their keys in insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// An integer that fits in i64; other numbers parse as `Float`.
    Int(i64),
    Float(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Default for Json {
    fn default() -> Self {
        Json::Null
    }
}

impl Json {
    /// An empty object, to fill with [`Json::with`] or [`Json::set`].
    pub fn object() -> Json {
        Json::Object(Vec::new())
    }

    /// Returns the object with `key` set to `value`: a builder,
    /// `Json::object().with("items", 10).with("name", "x")`.
    pub fn with<T: ToJson + ?Sized>(mut self, key: &str, value: &T) -> Json {
        self.set(key, value.to_json());
        self
    }

    /// Sets `key` of an object to `value`, replacing an existing entry. It
    /// panics if `self` is not an object.
    pub fn set(&mut self, key: &str, value: Json) {
        match self {
            Json::Object(entries) => match entries.iter_mut().find(|(k, _)| k == key) {
                Some(e) => e.1 = value,
                None => entries.push((key.to_string(), value)),
            },
            _ => panic!("wasmflow: Json::set on a value that is not an object"),
        }
    }

    /// Returns the member `key` of an object, or None (also when `self` is
    /// not an object).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Json::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Returns an integer, or a float with no fractional part that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Json::Int(n) => Some(n),
            Json::Float(f) if f.fract() == 0.0 && f >= -9.2e18 && f <= 9.2e18 => Some(f as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Json::Int(n) => Some(n as f64),
            Json::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Parses JSON text (RFC 8259). Trailing non-space bytes are an error.
    pub fn parse(text: &[u8]) -> Result<Json, Error> {
        let mut p = Parser { b: text, i: 0, depth: 0 };
        p.space();
        let v = p.value()?;
        p.space();
        if p.i != text.len() {
            return Err(p.err("unexpected data after the value"));
        }
        Ok(v)
    }

    /// Returns the value as compact JSON text. Non-finite floats, which JSON
    /// cannot express, become `null`.
    pub fn to_json_string(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{}", n);
            }
            Json::Float(f) if !f.is_finite() => out.push_str("null"),
            Json::Float(f) => {
                let _ = write!(out, "{}", f);
            }
            Json::String(s) => write_string(s, out),
            Json::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Object(o) => {
                out.push('{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_string())
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Nesting deeper than this is refused rather than risking the guest's stack.
const MAX_DEPTH: usize = 512;

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> Error {
        Error::new(format!("invalid JSON at offset {}: {}", self.i, what))
    }

    fn space(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, Error> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("unknown literal"))
        }
    }

    fn value(&mut self) -> Result<Json, Error> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => self.nested(|p| p.array()),
            Some(b'{') => self.nested(|p| p.object()),
            Some(b'-') | Some(b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Result<Json, Error>) -> Result<Json, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn array(&mut self) -> Result<Json, Error> {
        self.i += 1;
        let mut a = Vec::new();
        self.space();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Array(a));
        }
        loop {
            self.space();
            a.push(self.value()?);
            self.space();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Array(a));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self) -> Result<Json, Error> {
        self.i += 1;
        let mut o: Vec<(String, Json)> = Vec::new();
        self.space();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Object(o));
        }
        loop {
            self.space();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let k = self.string()?;
            self.space();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.space();
            let v = self.value()?;
            // A repeated key keeps the last value, as most decoders do.
            match o.iter_mut().find(|(ek, _)| *ek == k) {
                Some(e) => e.1 = v,
                None => o.push((k, v)),
            }
            self.space();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Object(o));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self.b.get(self.i..self.i + 4).ok_or_else(|| self.err("short \\u escape"))?;
        let s = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        let n = u32::from_str_radix(s, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err("control character in string")),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }

    fn number(&mut self) -> Result<Json, Error> {
        let start = self.i;
        let mut float = false;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i > s
        };
        if !digits(self) {
            return Err(self.err("expected digits"));
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            float = true;
            if !digits(self) {
                return Err(self.err("expected digits after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e') | Some(b'E')) {
            self.i += 1;
            float = true;
            if matches!(self.peek(), Some(b'+') | Some(b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.err("expected exponent digits"));
            }
        }
        let s = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        if !float {
            if let Ok(n) = s.parse::<i64>() {
                return Ok(Json::Int(n));
            }
        }
        s.parse::<f64>().map(Json::Float).map_err(|_| self.err("bad number"))
    }
}

/// ToJson converts a value to JSON. Implement it (or use
/// [`json_struct!`](crate::json_struct)) for the types your workflows pass
/// through steps, effects, cursors, inputs and outputs.
pub trait ToJson {
    fn to_json(&self) -> Json;
}

/// FromJson builds a value from JSON. As with Go's encoding/json, `null` (and
/// a missing object member) gives a type's zero value where it has one:
/// `0`, `false`, `""`, an empty `Vec`, `None`.
pub trait FromJson: Sized {
    fn from_json(v: &Json) -> Result<Self, Error>;
}

/// Returns the member `key` of `obj` decoded as T; a missing member decodes
/// as `null`. Used by [`json_struct!`](crate::json_struct); handy in
/// hand-written [`FromJson`] implementations.
pub fn field<T: FromJson>(obj: &Json, key: &str) -> Result<T, Error> {
    match obj {
        Json::Object(_) | Json::Null => {}
        other => return Err(mismatch("an object", other)),
    }
    T::from_json(obj.get(key).unwrap_or(&Json::Null)).map_err(|e| Error::new(format!("field {:?}: {}", key, e)))
}

fn mismatch(want: &str, got: &Json) -> Error {
    let kind = match got {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Int(_) | Json::Float(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    };
    Error::new(format!("expected {}, found {}", want, kind))
}

/// Encodes `v` as JSON text.
pub fn to_string<T: ToJson + ?Sized>(v: &T) -> String {
    v.to_json().to_json_string()
}

/// Decodes JSON text into T.
pub fn from_slice<T: FromJson>(text: &[u8]) -> Result<T, Error> {
    T::from_json(&Json::parse(text)?)
}

impl ToJson for Json {
    fn to_json(&self) -> Json {
        self.clone()
    }
}

impl FromJson for Json {
    fn from_json(v: &Json) -> Result<Self, Error> {
        Ok(v.clone())
    }
}

impl ToJson for () {
    fn to_json(&self) -> Json {
        Json::Null
    }
}

impl FromJson for () {
    fn from_json(_: &Json) -> Result<Self, Error> {
        Ok(())
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Json {
        Json::Bool(*self)
    }
}

impl FromJson for bool {
    fn from_json(v: &Json) -> Result<Self, Error> {
        match v {
            Json::Null => Ok(false),
            Json::Bool(b) => Ok(*b),
            other => Err(mismatch("a boolean", other)),
        }
    }
}

macro_rules! json_ints {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Json {
                match i64::try_from(*self) {
                    Ok(n) => Json::Int(n),
                    Err(_) => Json::Float(*self as f64),
                }
            }
        }
        impl FromJson for $t {
            fn from_json(v: &Json) -> Result<Self, Error> {
                if v.is_null() {
                    return Ok(0);
                }
                let n = v.as_i64().ok_or_else(|| mismatch("an integer", v))?;
                <$t>::try_from(n).map_err(|_| Error::new(format!("{} is out of range for {}", n, stringify!($t))))
            }
        }
    )*};
}
json_ints!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl ToJson for f64 {
    fn to_json(&self) -> Json {
        Json::Float(*self)
    }
}

impl FromJson for f64 {
    fn from_json(v: &Json) -> Result<Self, Error> {
        if v.is_null() {
            return Ok(0.0);
        }
        v.as_f64().ok_or_else(|| mismatch("a number", v))
    }
}

impl ToJson for f32 {
    fn to_json(&self) -> Json {
        Json::Float(*self as f64)
    }
}

impl FromJson for f32 {
    fn from_json(v: &Json) -> Result<Self, Error> {
        f64::from_json(v).map(|f| f as f32)
    }
}

impl ToJson for str {
    fn to_json(&self) -> Json {
        Json::String(self.to_string())
    }
}

impl ToJson for String {
    fn to_json(&self) -> Json {
        Json::String(self.clone())
    }
}

impl FromJson for String {
    fn from_json(v: &Json) -> Result<Self, Error> {
        match v {
            Json::Null => Ok(String::new()),
            Json::String(s) => Ok(s.clone()),
            other => Err(mismatch("a string", other)),
        }
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn to_json(&self) -> Json {
        (**self).to_json()
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Json {
        match self {
            Some(v) => v.to_json(),
            None => Json::Null,
        }
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(v: &Json) -> Result<Self, Error> {
        match v {
            Json::Null => Ok(None),
            v => T::from_json(v).map(Some),
        }
    }
}

impl<T: ToJson> ToJson for [T] {
    fn to_json(&self) -> Json {
        Json::Array(self.iter().map(ToJson::to_json).collect())
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Json {
        self.as_slice().to_json()
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Json) -> Result<Self, Error> {
        match v {
            Json::Null => Ok(Vec::new()),
            Json::Array(a) => a.iter().map(T::from_json).collect(),
            other => Err(mismatch("an array", other)),
        }
    }
}

impl<T: ToJson> ToJson for BTreeMap<String, T> {
    fn to_json(&self) -> Json {
        Json::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(v: &Json) -> Result<Self, Error> {
        match v {
            Json::Null => Ok(BTreeMap::new()),
            Json::Object(o) => o.iter().map(|(k, v)| Ok((k.clone(), T::from_json(v)?))).collect(),
            other => Err(mismatch("an object", other)),
        }
    }
}

impl<T: ToJson> ToJson for HashMap<String, T> {
    /// Keys are sorted, so that the same map always gives the same text.
    fn to_json(&self) -> Json {
        let mut entries: Vec<(String, Json)> = self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Json::Object(entries)
    }
}

impl<T: FromJson> FromJson for HashMap<String, T> {
    fn from_json(v: &Json) -> Result<Self, Error> {
        BTreeMap::<String, T>::from_json(v).map(|m| m.into_iter().collect())
    }
}

/// A time is encoded as RFC 3339 text in UTC with nanoseconds and no
/// trailing zeros, as Go's time.Time is: `"2024-05-01T12:00:00.5Z"`.
impl ToJson for SystemTime {
    fn to_json(&self) -> Json {
        Json::String(format_rfc3339(*self))
    }
}

impl FromJson for SystemTime {
    fn from_json(v: &Json) -> Result<Self, Error> {
        match v {
            Json::Null => Ok(UNIX_EPOCH),
            Json::String(s) => parse_rfc3339(s),
            other => Err(mismatch("an RFC 3339 time", other)),
        }
    }
}

/// Formats t as RFC 3339 in UTC, like Go's time.RFC3339Nano.
pub fn format_rfc3339(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    };
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d, rem / 3600, rem % 3600 / 60, rem % 60);
    if nanos > 0 {
        let frac = format!("{:09}", nanos);
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses RFC 3339 text (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, Error> {
    let bad = || Error::new(format!("{:?} is not an RFC 3339 time", s));
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> Result<i64, Error> {
        let part = s.get(from..to).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (y, mo, d, h, mi, sec) = (num(0, 4)?, num(5, 7)?, num(8, 10)?, num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut i = 19;
    let mut nanos = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let digits = &s[start..i.min(start + 9)];
        nanos = digits.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - digits.len() as u32);
    }
    let offset = match b.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(c @ b'+') | Some(c @ b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let o = num(i + 1, i + 3)? * 3600 + num(i + 4, i + 6)? * 60;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    Ok(if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs((-secs) as u64) + Duration::from_nanos(nanos as u64)
    })
}

// Howard Hinnant's algorithms between days since 1970-01-01 and civil dates.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + if m <= 2 { 1 } else { 0 }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Declares a struct whose fields map to the members of a JSON object of the
/// same names, and implements [`ToJson`] and [`FromJson`] for it. A missing
/// member decodes as `null`, so as its type's zero value (see [`FromJson`]);
/// wrap a field in `Option` to tell "absent" from zero.
///
/// ```
/// wasmflow::json_struct! {
///     #[derive(Clone, Debug, Default)]
///     pub struct Cursor {
///         pub next: i64,
///         pub sum: i64,
///     }
/// }
/// ```
#[macro_export]
macro_rules! json_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        impl $crate::ToJson for $name {
            fn to_json(&self) -> $crate::Json {
                $crate::Json::Object(vec![
                    $((stringify!($field).to_string(), $crate::ToJson::to_json(&self.$field))),*
                ])
            }
        }

        impl $crate::FromJson for $name {
            fn from_json(v: &$crate::Json) -> ::std::result::Result<Self, $crate::Error> {
                Ok($name {
                    $($field: $crate::json::field(v, stringify!($field))?),*
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_values() {
        let text = r#"{"a":1,"b":[true,false,null],"c":"x\"y\\z\n\u00e9\ud83d\ude00","d":-1.5,"e":{},"f":1e300}"#;
        let v = Json::parse(text.as_bytes()).unwrap();
        assert_eq!(v.get("a"), Some(&Json::Int(1)));
        assert_eq!(v.get("c").and_then(Json::as_str), Some("x\"y\\z\né😀"));
        assert_eq!(Json::parse(v.to_json_string().as_bytes()).unwrap(), v);
    }

    #[test]
    fn refuses_bad_json() {
        for bad in ["", "{", "[1,]", "01x", "\"\\q\"", "{\"a\" 1}", "nul", "1 2"] {
            assert!(Json::parse(bad.as_bytes()).is_err(), "{:?} parsed", bad);
        }
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(Json::parse(deep.as_bytes()).is_err());
    }

    crate::json_struct! {
        #[derive(Debug, PartialEq, Default)]
        struct Point {
            x: i64,
            label: String,
            tags: Vec<String>,
            at: Option<u32>,
        }
    }

    #[test]
    fn decodes_structs_with_missing_members_as_zero() {
        let p: Point = from_slice(br#"{"x":3}"#).unwrap();
        assert_eq!(p, Point { x: 3, ..Default::default() });
        let q = Point { x: -1, label: "l".into(), tags: vec!["t".into()], at: Some(7) };
        assert_eq!(to_string(&q), r#"{"x":-1,"label":"l","tags":["t"],"at":7}"#);
        assert_eq!(from_slice::<Point>(to_string(&q).as_bytes()).unwrap(), q);
        assert!(from_slice::<Point>(br#"{"x":"no"}"#).is_err());
    }

    #[test]
    fn formats_and_parses_times_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_714_564_800, 500_000_000);
        assert_eq!(format_rfc3339(t), "2024-05-01T12:00:00.5Z");
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00.5Z").unwrap(), t);
        assert_eq!(parse_rfc3339("2024-05-01T14:00:00.5+02:00").unwrap(), t);
        assert_eq!(format_rfc3339(UNIX_EPOCH - Duration::from_secs(1)), "1969-12-31T23:59:59Z");
        assert!(parse_rfc3339("2024-05-01").is_err());
    }
}
