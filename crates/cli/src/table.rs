//! Plain-text tables for people; `--json` prints the API's JSON instead.

use serde_json::Value;

/// Prints `rows` (a JSON array of objects) as a table of `columns`.
pub fn print(rows: &Value, columns: &[&str]) {
    let empty = Vec::new();
    let rows = rows.as_array().unwrap_or(&empty);
    let cells: Vec<Vec<String>> = rows.iter().map(|r| columns.iter().map(|c| cell(lookup(r, c))).collect()).collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count()).min(60);
        }
    }
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| {
                let v: String = v.chars().take(*w).collect();
                format!("{v:<w$}", w = *w)
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(columns.iter().map(|c| c.to_uppercase()).collect()));
    for row in cells {
        println!("{}", line(row));
    }
    if rows.is_empty() {
        println!("(none)");
    }
}

/// Prints one object as `key: value` lines.
pub fn print_object(value: &Value) {
    match value.as_object() {
        Some(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0);
            for (k, v) in map {
                println!("{k:<width$}  {}", cell(Some(v)));
            }
        }
        None => println!("{}", cell(Some(value))),
    }
}

fn lookup<'a>(row: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(row, |v, key| v.get(key))
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
