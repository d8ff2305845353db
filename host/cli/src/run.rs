//! `hookbox run`: one plugin, one event, one call, and everything the author wants to see.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use hookbox_dialects::{Callback, Inbound, ModifyError, openim, tencent};
use hookbox_model::JsonObject;
use hookbox_model::{Phase, Verdict};
use hookbox_registry::LimitsSpec;
use hookbox_runtime::{Capabilities, Runtime, RuntimeConfig};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The plugin component (`.wasm`).
    plugin: PathBuf,
    /// The callback body, a JSON file as the IM server would POST it.
    #[arg(long)]
    event: PathBuf,
    /// The callback command (default: the body's `callbackCommand`).
    #[arg(long)]
    command: Option<String>,
    /// Which IM server the event comes from.
    #[arg(long, value_enum, default_value = "openim")]
    dialect: DialectArg,
    /// A config value for the plugin, `key=value` (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    config: Vec<(String, String)>,
    /// Wall-clock limit for the call.
    #[arg(long, default_value_t = LimitsSpec::default().timeout_ms)]
    timeout_ms: u64,
    /// Memory limit, in MiB.
    #[arg(long, default_value_t = LimitsSpec::default().memory_mb)]
    memory_mb: u64,
    /// Instruction (fuel) budget; unlimited when absent.
    #[arg(long)]
    fuel: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DialectArg {
    Openim,
    Tencent,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

pub(crate) async fn run(args: RunArgs) -> Result<()> {
    let body = std::fs::read(&args.event)
        .with_context(|| format!("cannot read {}", args.event.display()))?;
    let mut callback =
        parse_event(args.dialect, args.command.as_deref(), &body).with_context(|| {
            format!(
                "{} is not a callback hookbox can read",
                args.event.display()
            )
        })?;
    if callback.phase == Phase::After {
        // The metadata `hookbox serve` gives every after-callback.
        callback.event = callback.delivery_keys().tag(&callback.event);
    }

    let bytes = std::fs::read(&args.plugin)
        .with_context(|| format!("cannot read {}", args.plugin.display()))?;
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_calls: 4,
        ..RuntimeConfig::default()
    })?;
    let name = args
        .plugin
        .file_stem()
        .map_or("plugin".into(), |s| s.to_string_lossy().into_owned());
    let compile_started = Instant::now();
    let plugin = runtime
        .load(&name, &bytes)
        .with_context(|| format!("cannot load {}", args.plugin.display()))?;
    let compile_time = compile_started.elapsed();

    let limits = LimitsSpec {
        timeout_ms: args.timeout_ms,
        memory_mb: args.memory_mb,
        fuel: args.fuel,
        ..LimitsSpec::default()
    }
    .call_limits();
    let config = Capabilities::config_only(Arc::new(
        args.config.into_iter().collect::<BTreeMap<_, _>>(),
    ));
    let phase = match callback.phase {
        Phase::Before => "before",
        Phase::After => "after",
    };
    println!(
        "plugin    {} ({} KiB, compiled in {} ms)",
        args.plugin.display(),
        bytes.len() / 1024,
        compile_time.as_millis()
    );
    println!(
        "command   {} ({}, {phase}{})",
        callback.event.command,
        callback.event.dialect,
        if callback.known {
            ""
        } else {
            ", unknown to hookbox"
        }
    );

    match runtime
        .invoke(&plugin, &callback.event, &config, &limits)
        .await
    {
        Ok(outcome) => {
            let verdict = match &outcome.verdict {
                Verdict::Modify(fields) if callback.phase == Phase::Before => {
                    match check_modify(args.dialect, &callback, fields) {
                        Ok(()) => outcome.verdict.clone(),
                        Err(e) => {
                            println!("verdict   modify REFUSED: {e}");
                            println!(
                                "envelope  {}",
                                String::from_utf8_lossy(&render(
                                    args.dialect,
                                    &callback,
                                    &Verdict::Allow
                                ))
                            );
                            bail!(
                                "the plugin's modify would be refused by hookbox (on_error applies)"
                            );
                        }
                    }
                }
                _ => outcome.verdict.clone(),
            };
            println!("verdict   {}", describe(&verdict));
            println!(
                "envelope  {}",
                String::from_utf8_lossy(&render(args.dialect, &callback, &verdict))
            );
            println!("time      {:.3} ms", outcome.elapsed.as_secs_f64() * 1000.0);
            println!("fuel      {}", outcome.fuel_used);
            println!(
                "memory    {:.2} MiB peak",
                outcome.peak_memory_bytes as f64 / (1 << 20) as f64
            );
            Ok(())
        }
        Err(error) => {
            println!("verdict   FAILED ({}): {error}", error.kind());
            println!(
                "envelope  {} (on_error = \"allow\")",
                String::from_utf8_lossy(&render(args.dialect, &callback, &Verdict::Allow))
            );
            bail!("the plugin failed: {error}");
        }
    }
}

fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allow => "allow".to_owned(),
        Verdict::Discard => "discard".to_owned(),
        Verdict::Modify(fields) => format!("modify {}", serde_json::Value::Object(fields.clone())),
        Verdict::Reject(r) => format!(
            "reject code={} message={:?} detail={:?}",
            r.code, r.message, r.detail
        ),
    }
}

/// Parse an event file as the dialect's server would send it. Tencent's query (app id,
/// command, signature) is synthesised: `run` checks plugins, not signatures.
fn parse_event(dialect: DialectArg, command: Option<&str>, body: &[u8]) -> Result<Callback> {
    let headers = http::HeaderMap::new();
    match dialect {
        DialectArg::Openim => {
            let inbound = Inbound {
                path_command: command,
                query: None,
                headers: &headers,
                body,
            };
            Ok(openim::parse(&inbound)?)
        }
        DialectArg::Tencent => {
            let command = match command {
                Some(command) => command.to_owned(),
                None => serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("CallbackCommand")?.as_str().map(str::to_owned))
                    .context("the body has no CallbackCommand; pass --command")?,
            };
            let query = format!("SdkAppid=0&CallbackCommand={command}");
            let inbound = Inbound {
                path_command: None,
                query: Some(&query),
                headers: &headers,
                body,
            };
            let apps = [tencent::TencentApp {
                sdk_app_id: 0,
                token: None,
            }];
            let auth = tencent::Auth {
                apps: &apps,
                max_skew_secs: 60,
                now_unix_secs: 0,
            };
            Ok(tencent::parse(&inbound, &auth)?)
        }
    }
}

fn check_modify(
    dialect: DialectArg,
    callback: &Callback,
    fields: &JsonObject,
) -> Result<(), ModifyError> {
    match dialect {
        DialectArg::Openim => openim::check_modify(callback, fields),
        DialectArg::Tencent => tencent::check_modify(callback, fields),
    }
}

fn render(dialect: DialectArg, callback: &Callback, verdict: &Verdict) -> Vec<u8> {
    match dialect {
        DialectArg::Openim => openim::render(callback, verdict),
        DialectArg::Tencent => tencent::render(callback, verdict),
    }
}
