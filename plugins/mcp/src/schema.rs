//! A tool's input schema, made from its plugin's own flags (so it never drifts from them), and
//! a call's arguments turned back into that plugin's command line.

use crate::tools::{CONFIRM, SERVER_FLAGS, Tool};
use clap::{Arg, ArgAction};
use serde_json::{Map, Value, json};

/// The flags of `cmd` a tool offers: neither the server's, nor withheld by the tool, nor
/// hidden; with `check` and `github_api_url` only when the network is allowed.
fn offered<'c>(cmd: &'c clap::Command, tool: &Tool, allow_network: bool) -> Vec<&'c Arg> {
    let network = ["check", "github_api_url"];
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter(|a| {
            let id = a.get_id().as_str();
            !SERVER_FLAGS.contains(&id) && !tool.withheld.contains(&id) && (allow_network || !network.contains(&id))
        })
        .collect()
}

/// The JSON property of a flag: its long name in snake_case (`fail-on` is `fail_on`, `--for` is
/// `for`), or its id for a positional argument.
fn property(arg: &Arg) -> String {
    arg.get_long().map(|l| l.replace('-', "_")).unwrap_or_else(|| arg.get_id().to_string())
}

fn is_switch(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::SetTrue)
}

fn is_list(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
}

/// The input schema of `tool`, a JSON Schema object.
pub fn input_schema(cmd: &clap::Command, tool: &Tool, allow_network: bool) -> Map<String, Value> {
    let mut properties = Map::new();
    for arg in offered(cmd, tool, allow_network) {
        let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        if let Some(name) = arg.get_value_names().and_then(|n| n.first())
            && !help.is_empty()
            && !is_switch(arg)
        {
            help = format!("{help} ({name})");
        }
        let choices: Vec<String> = arg.get_possible_values().iter().map(|v| v.get_name().to_string()).collect();
        let scalar = if is_switch(arg) {
            json!({"type": "boolean"})
        } else if choices.is_empty() {
            json!({"type": "string"})
        } else {
            json!({"type": "string", "enum": choices})
        };
        let mut schema = if is_list(arg) { json!({"type": "array", "items": scalar}) } else { scalar };
        schema["description"] = Value::from(help);
        if let Some(default) = arg.get_default_values().first().filter(|_| !is_switch(arg)) {
            schema["default"] = Value::from(default.to_string_lossy().into_owned());
        }
        properties.insert(property(arg), schema);
    }
    if tool.writes {
        properties.insert(
            CONFIRM.into(),
            json!({"type": "string", "description": "The name of the context the call writes to, as the user confirms it (nothing changes otherwise)."}),
        );
    }
    let mut schema = Map::new();
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), Value::Object(properties));
    schema.insert("required".into(), tool.required.iter().map(|r| Value::from(*r)).collect());
    schema.insert("additionalProperties".into(), false.into());
    schema
}

/// The plugin's command line for a call of `tool` with `arguments`: its program name, the
/// tool's preset, the call's flags as `--long=value` (a value is never read as a flag), then
/// `server` (the server's flags and output), then positional values after `--`. Unknown
/// properties, wrong types and missing required ones are refused with a message naming them.
pub fn argv(
    cmd: &clap::Command,
    tool: &Tool,
    allow_network: bool,
    arguments: &Map<String, Value>,
    server: &[String],
) -> Result<Vec<String>, String> {
    let offered = offered(cmd, tool, allow_network);
    for required in tool.required {
        if arguments.get(*required).is_none_or(Value::is_null) {
            return Err(format!("{}: the argument '{required}' is required", tool.name));
        }
    }
    let mut flags: Vec<String> = vec![cmd.get_name().to_string()];
    flags.extend(tool.preset.iter().map(|s| s.to_string()));
    let mut positionals: Vec<(usize, String)> = Vec::new();
    for (key, value) in arguments {
        if tool.writes && key == CONFIRM {
            continue;
        }
        let arg = offered.iter().find(|a| property(a) == *key).ok_or_else(|| {
            let mut known: Vec<String> = offered.iter().map(|a| property(a)).collect();
            if tool.writes {
                known.push(CONFIRM.into());
            }
            format!("{}: unknown argument '{key}' (it takes: {})", tool.name, known.join(", "))
        })?;
        let wrong = |want: &str| format!("{}: '{key}' must be {want}, not {value}", tool.name);
        if value.is_null() {
            continue;
        }
        if is_switch(arg) {
            match value {
                Value::Bool(true) => flags.push(format!("--{}", arg.get_long().unwrap_or(key))),
                Value::Bool(false) => {}
                _ => return Err(wrong("true or false")),
            }
            continue;
        }
        let values: Vec<String> = match value {
            Value::Array(items) if is_list(arg) => {
                items.iter().map(|v| scalar(v).ok_or_else(|| wrong("a list of strings"))).collect::<Result<_, _>>()?
            }
            Value::Array(_) => return Err(wrong("one string")),
            v => vec![scalar(v).ok_or_else(|| wrong("a string"))?],
        };
        match arg.get_long() {
            Some(long) => flags.extend(values.into_iter().map(|v| format!("--{long}={v}"))),
            None => {
                let index = arg.get_index().unwrap_or(usize::MAX);
                positionals.extend(values.into_iter().map(|v| (index, v)));
            }
        }
    }
    flags.extend(server.iter().cloned());
    if !positionals.is_empty() {
        positionals.sort_by_key(|(i, _)| *i);
        flags.push("--".into());
        flags.extend(positionals.into_iter().map(|(_, v)| v));
    }
    Ok(flags)
}

/// A string or a number, as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
