//! Builds the query for the flights from one airport to another over a range of days,
//! in the dialect of whichever backend the run's source is.
//!
//! The days are New York days, the flights' own `year`/`month`/`day`: `time_hour` is an
//! instant (UTC), so the range runs from New York's midnight starting `from` to the one
//! ending `to`, each turned into UTC with the daylight-saving rule in force (EST, UTC−5;
//! EDT, UTC−4). The query then stays a range on `time_hour`, which every backend indexes.
//!
//! User input only ever travels as bound parameters (SQL, CQL) or as values inside
//! JSON that serde_json writes (MongoDB), never spliced into query text.

use quarry_plugin::{Backend, Error, Info, MongoFind, Plugin, Query, Source, Statement, Value};
use serde::Deserialize;
use serde_json::json;

/// The 19 columns of `flights`, in the order every backend returns them.
const COLUMNS: &str = "year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, \
    sched_arr_time, arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, \
    hour, minute, time_hour";

/// A JSON object's keys keep their order only as text: serde_json's default map sorts
/// them, and MongoDB sorts by the keys in the order written.
const MONGO_SORT: &str = r#"{"time_hour": 1, "carrier": 1, "flight": 1}"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    origin: String,
    dest: String,
    #[serde(default = "first_day")]
    from: String,
    #[serde(default = "last_day")]
    to: String,
}

fn first_day() -> String {
    "2013-01-01".into()
}

fn last_day() -> String {
    "2013-12-31".into()
}

struct FlightsBetween {
    backend: Backend,
    origin: String,
    dest: String,
    /// New York's midnight starting the first day, in UTC.
    from: Instant,
    /// New York's midnight ending the last day, in UTC: the range is
    /// `from <= time_hour < to_exclusive`.
    to_exclusive: Instant,
}

impl Plugin for FlightsBetween {
    type Params = Params;

    fn describe() -> Info {
        let day = json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"});
        let schema = json!({
            "type": "object",
            "properties": {
                "origin": {"type": "string", "description": "Origin airport (FAA code), e.g. EWR"},
                "dest": {"type": "string", "description": "Destination airport (FAA code), e.g. IAH"},
                "from": merge(&day, json!({"description": "First day, inclusive (YYYY-MM-DD)", "default": "2013-01-01"})),
                "to": merge(&day, json!({"description": "Last day, inclusive (YYYY-MM-DD)", "default": "2013-12-31"})),
            },
            "required": ["origin", "dest"],
            "additionalProperties": false,
        });
        quarry_plugin::plugin_info!()
            .builds_query()
            .params_schema(schema)
    }

    fn init(source: &Source, params: Params) -> Result<Self, Error> {
        let from = Date::parse("from", &params.from)?;
        let to = Date::parse("to", &params.to)?;
        Ok(FlightsBetween {
            backend: source.backend,
            origin: params.origin,
            dest: params.dest,
            from: from.new_york_midnight(),
            to_exclusive: to.next().new_york_midnight(),
        })
    }

    fn build_query(&mut self) -> Result<Option<Query>, Error> {
        Ok(Some(self.query()))
    }
}

impl FlightsBetween {
    fn query(&self) -> Query {
        let (origin, dest) = (self.origin.as_str(), self.dest.as_str());
        let (from, to) = (self.from.iso(), self.to_exclusive.iso());
        let text = |values: [&str; 4]| values.map(|v| Value::Text(v.into())).to_vec();
        match self.backend {
            // time_hour is SQLite's canonical UTC text, 'YYYY-MM-DD HH:MM:SS', which
            // compares as text in time order.
            Backend::Sqlite => Query::Sql(Statement {
                text: format!(
                    "SELECT {COLUMNS} FROM flights WHERE origin = ?1 AND dest = ?2 \
                     AND time_hour >= ?3 AND time_hour < ?4 ORDER BY time_hour, carrier, flight"
                ),
                params: text([
                    origin,
                    dest,
                    &self.from.sqlite(),
                    &self.to_exclusive.sqlite(),
                ]),
            }),
            Backend::Postgres | Backend::Cockroach => Query::Sql(Statement {
                text: format!(
                    "SELECT {COLUMNS} FROM flights WHERE origin = $1 AND dest = $2 \
                     AND time_hour >= $3::text::timestamptz AND time_hour < $4::text::timestamptz \
                     ORDER BY time_hour, carrier, flight"
                ),
                params: text([origin, dest, &from, &to]),
            }),
            // One partition, (origin, dest), whose rows come in its clustering order
            // (time_hour, carrier, flight): the order the other backends sort by.
            Backend::Scylla => Query::Cql(Statement {
                text: format!(
                    "SELECT {COLUMNS} FROM flights WHERE origin = ? AND dest = ? \
                     AND time_hour >= ? AND time_hour < ? ALLOW FILTERING"
                ),
                params: text([origin, dest, &from, &to]),
            }),
            Backend::Mongo => Query::MongoFind(MongoFind {
                collection: "flights".into(),
                filter: json!({
                    "origin": origin,
                    "dest": dest,
                    "time_hour": {
                        "$gte": {"$date": from},
                        "$lt": {"$date": to},
                    },
                })
                .to_string(),
                projection: Some(json!({"_id": 0}).to_string()),
                sort: Some(MONGO_SORT.into()),
                skip: None,
                limit: None,
            }),
        }
    }
}

/// `base` with the fields of `extra` added (both JSON objects).
fn merge(base: &serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut merged = base.clone();
    if let (Some(merged), serde_json::Value::Object(extra)) = (merged.as_object_mut(), extra) {
        merged.extend(extra);
    }
    merged
}

/// A day of the proleptic Gregorian calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Date {
    year: u32,
    month: u32,
    day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`; errors name the param `field`.
    fn parse(field: &str, text: &str) -> Result<Date, Error> {
        let invalid = || {
            Error::new(format!(
                "invalid params: {field}: `{text}` is not a date (YYYY-MM-DD)"
            ))
        };
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && [0, 1, 2, 3, 5, 6, 8, 9]
                .iter()
                .all(|&i| bytes[i].is_ascii_digit());
        if !shape_ok {
            return Err(invalid());
        }
        let number =
            |range: std::ops::Range<usize>| text[range].parse::<u32>().map_err(|_| invalid());
        let date = Date {
            year: number(0..4)?,
            month: number(5..7)?,
            day: number(8..10)?,
        };
        if !(1..=12).contains(&date.month)
            || date.day == 0
            || date.day > days_in_month(date.year, date.month)
        {
            return Err(invalid());
        }
        Ok(date)
    }

    /// The day after.
    fn next(self) -> Date {
        if self.day < days_in_month(self.year, self.month) {
            Date {
                day: self.day + 1,
                ..self
            }
        } else if self.month < 12 {
            Date {
                month: self.month + 1,
                day: 1,
                ..self
            }
        } else {
            Date {
                year: self.year + 1,
                month: 1,
                day: 1,
            }
        }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A whole hour in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Instant {
    date: Date,
    hour: u32,
}

impl Instant {
    /// `2013-03-01T05:00:00Z`: what PostgreSQL, CQL and extended JSON take.
    fn iso(self) -> String {
        format!("{}T{:02}:00:00Z", self.date, self.hour)
    }

    /// `2013-03-01 05:00:00`: SQLite's canonical text of a UTC timestamp.
    fn sqlite(self) -> String {
        format!("{} {:02}:00:00", self.date, self.hour)
    }
}

impl Date {
    /// New York's midnight at the start of this day, in UTC: 05:00 under EST, 04:00 under
    /// EDT. US daylight saving time (the rule since 2007) starts at 02:00 on the second
    /// Sunday of March and ends at 02:00 on the first Sunday of November, so a midnight is
    /// EDT on the days after the first and up to the second.
    fn new_york_midnight(self) -> Instant {
        let start = Date {
            year: self.year,
            month: 3,
            day: nth_sunday(self.year, 3, 2),
        };
        let end = Date {
            year: self.year,
            month: 11,
            day: nth_sunday(self.year, 11, 1),
        };
        let key = |d: Date| (d.year, d.month, d.day);
        let daylight = key(start) < key(self) && key(self) <= key(end);
        Instant {
            date: self,
            hour: if daylight { 4 } else { 5 },
        }
    }
}

/// The day of the month of the `n`th Sunday of `month`.
fn nth_sunday(year: u32, month: u32, n: u32) -> u32 {
    let first = weekday(year, month, 1);
    1 + (7 - first) % 7 + 7 * (n - 1)
}

/// 0 for Sunday … 6 for Saturday (Sakamoto's method, Gregorian calendar).
fn weekday(year: u32, month: u32, day: u32) -> u32 {
    const OFFSETS: [u32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if month < 3 { year - 1 } else { year };
    (y + y / 4 - y / 100 + y / 400 + OFFSETS[month as usize - 1] + day) % 7
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

quarry_plugin::export!(FlightsBetween);

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(backend: Backend, params: &str) -> Result<FlightsBetween, Error> {
        let params: Params = serde_json::from_str(params).map_err(Error::from)?;
        let source = Source {
            name: "demo".into(),
            backend,
        };
        FlightsBetween::init(&source, params)
    }

    fn query(backend: Backend) -> Query {
        let params =
            r#"{"origin": "EWR", "dest": "IAH", "from": "2013-02-27", "to": "2013-02-28"}"#;
        plugin(backend, params)
            .unwrap()
            .build_query()
            .unwrap()
            .unwrap()
    }

    fn texts(values: &[&str]) -> Vec<Value> {
        values.iter().map(|v| Value::Text((*v).into())).collect()
    }

    /// The playground's params form lists fields in the schema's order: origin and
    /// destination, then the days.
    #[test]
    fn params_keep_the_order_they_are_written_in() {
        let schema = FlightsBetween::describe()
            .into_raw()
            .params_schema
            .expect("a params schema");
        let at = |key: &str| {
            schema
                .find(&format!("\"{key}\":{{"))
                .unwrap_or_else(|| panic!("no {key} in {schema}"))
        };
        assert!(
            at("origin") < at("dest") && at("dest") < at("from") && at("from") < at("to"),
            "{schema}"
        );
    }

    #[test]
    fn next_day_crosses_months_years_and_leap_days() {
        let day = |text| Date::parse("to", text).unwrap().next().to_string();
        assert_eq!(day("2013-01-31"), "2013-02-01");
        assert_eq!(day("2013-02-28"), "2013-03-01");
        assert_eq!(day("2012-02-28"), "2012-02-29");
        assert_eq!(day("2000-02-29"), "2000-03-01");
        assert_eq!(day("2013-12-31"), "2014-01-01");
        assert_eq!(day("2013-06-15"), "2013-06-16");
    }

    #[test]
    fn days_are_new_york_days_across_daylight_saving() {
        let midnight = |text| Date::parse("from", text).unwrap().new_york_midnight().iso();
        // EST until 02:00 on 10 March 2013, EDT until 02:00 on 3 November 2013.
        assert_eq!(midnight("2013-01-15"), "2013-01-15T05:00:00Z");
        assert_eq!(midnight("2013-03-10"), "2013-03-10T05:00:00Z");
        assert_eq!(midnight("2013-03-11"), "2013-03-11T04:00:00Z");
        assert_eq!(midnight("2013-07-04"), "2013-07-04T04:00:00Z");
        assert_eq!(midnight("2013-11-03"), "2013-11-03T04:00:00Z");
        assert_eq!(midnight("2013-11-04"), "2013-11-04T05:00:00Z");
        // Other years: 2024 switched on 10 March and 3 November, 2021 on 14 March and 7 November.
        assert_eq!(midnight("2024-03-11"), "2024-03-11T04:00:00Z");
        assert_eq!(midnight("2021-03-14"), "2021-03-14T05:00:00Z");
        assert_eq!(midnight("2021-03-15"), "2021-03-15T04:00:00Z");
        assert_eq!(midnight("2021-11-08"), "2021-11-08T05:00:00Z");

        // The first week of March: from New York's 1 March to the end of its 7 March.
        let mut plugin = plugin(
            Backend::Postgres,
            r#"{"origin": "JFK", "dest": "LAX", "from": "2013-03-01", "to": "2013-03-07"}"#,
        )
        .unwrap();
        let Some(Query::Sql(statement)) = plugin.build_query().unwrap() else {
            panic!()
        };
        assert_eq!(
            statement.params[2..],
            texts(&["2013-03-01T05:00:00Z", "2013-03-08T05:00:00Z"])
        );
    }

    #[test]
    fn bad_dates_name_the_field() {
        for bad in [
            "2013-02-29",
            "1900-02-29",
            "2013-13-01",
            "2013-00-10",
            "2013-1-01",
            "2013/01/01",
            "2013-01-0x",
            "+013-01-01",
            "2013-04-31",
        ] {
            let error = Date::parse("from", bad).unwrap_err();
            assert_eq!(
                error.message(),
                format!("invalid params: from: `{bad}` is not a date (YYYY-MM-DD)")
            );
        }
        let error = plugin(
            Backend::Sqlite,
            r#"{"origin": "EWR", "dest": "IAH", "to": "tomorrow"}"#,
        )
        .err()
        .unwrap();
        assert!(error.message().contains("to: `tomorrow`"), "{error}");
    }

    #[test]
    fn sqlite_binds_days() {
        let Query::Sql(statement) = query(Backend::Sqlite) else {
            panic!("not SQL")
        };
        assert_eq!(
            statement.text,
            "SELECT year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, sched_arr_time, \
             arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, hour, minute, \
             time_hour FROM flights WHERE origin = ?1 AND dest = ?2 AND time_hour >= ?3 \
             AND time_hour < ?4 ORDER BY time_hour, carrier, flight"
        );
        assert_eq!(
            statement.params,
            texts(&["EWR", "IAH", "2013-02-27 05:00:00", "2013-03-01 05:00:00"])
        );
    }

    #[test]
    fn postgres_and_cockroach_cast_timestamps() {
        for backend in [Backend::Postgres, Backend::Cockroach] {
            let Query::Sql(statement) = query(backend) else {
                panic!("not SQL")
            };
            assert!(statement.text.contains(
                "WHERE origin = $1 AND dest = $2 AND time_hour >= $3::text::timestamptz \
                 AND time_hour < $4::text::timestamptz ORDER BY time_hour, carrier, flight"
            ));
            let params = texts(&["EWR", "IAH", "2013-02-27T05:00:00Z", "2013-03-01T05:00:00Z"]);
            assert_eq!(statement.params, params);
        }
    }

    #[test]
    fn scylla_filters_without_ordering() {
        let Query::Cql(statement) = query(Backend::Scylla) else {
            panic!("not CQL")
        };
        assert!(statement.text.ends_with(
            "FROM flights WHERE origin = ? AND dest = ? AND time_hour >= ? AND time_hour < ? ALLOW FILTERING"
        ));
        assert!(!statement.text.contains("ORDER BY"));
        let params = texts(&["EWR", "IAH", "2013-02-27T05:00:00Z", "2013-03-01T05:00:00Z"]);
        assert_eq!(statement.params, params);
    }

    #[test]
    fn mongo_find_uses_extended_json_dates() {
        let Query::MongoFind(find) = query(Backend::Mongo) else {
            panic!("not find")
        };
        assert_eq!(find.collection, "flights");
        let filter: serde_json::Value = serde_json::from_str(&find.filter).unwrap();
        assert_eq!(
            filter,
            json!({"origin": "EWR", "dest": "IAH", "time_hour": {
                "$gte": {"$date": "2013-02-27T05:00:00Z"},
                "$lt": {"$date": "2013-03-01T05:00:00Z"},
            }})
        );
        assert_eq!(find.projection.as_deref(), Some(r#"{"_id":0}"#));
        assert_eq!(
            find.sort.as_deref(),
            Some(r#"{"time_hour": 1, "carrier": 1, "flight": 1}"#)
        );
        assert_eq!((find.skip, find.limit), (None, None));
    }

    #[test]
    fn params_cannot_inject() {
        let params = r#"{"origin": "EWR' OR 1=1 --", "dest": "\"}, {\"$where\": \"1\""}"#;
        let mut plugin = plugin(Backend::Mongo, params).unwrap();
        let Some(Query::MongoFind(find)) = plugin.build_query().unwrap() else {
            panic!()
        };
        let filter: serde_json::Value = serde_json::from_str(&find.filter).unwrap();
        assert_eq!(filter["dest"], r#""}, {"$where": "1""#);
        assert_eq!(filter.as_object().unwrap().len(), 3);

        plugin.backend = Backend::Sqlite;
        let Some(Query::Sql(statement)) = plugin.build_query().unwrap() else {
            panic!()
        };
        assert!(!statement.text.contains("OR 1=1"));
        assert_eq!(statement.params[0], Value::Text("EWR' OR 1=1 --".into()));
    }

    #[test]
    fn defaults_cover_2013_and_describe_has_a_schema() {
        let mut plugin = plugin(Backend::Sqlite, r#"{"origin": "JFK", "dest": "LAX"}"#).unwrap();
        let Some(Query::Sql(statement)) = plugin.build_query().unwrap() else {
            panic!()
        };
        assert_eq!(
            statement.params,
            texts(&["JFK", "LAX", "2013-01-01 05:00:00", "2014-01-01 05:00:00"])
        );

        let info = FlightsBetween::describe().into_raw();
        assert!(info.builds_query && !info.transforms);
        let schema: serde_json::Value = serde_json::from_str(&info.params_schema.unwrap()).unwrap();
        assert_eq!(schema["required"], json!(["origin", "dest"]));
        assert_eq!(
            schema["properties"]["to"]["pattern"],
            "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
        );
        assert_eq!(schema["properties"]["from"]["default"], "2013-01-01");
    }
}
