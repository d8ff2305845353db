//! The Redis backend: one queue shared by any number of hookbox replicas.
//!
//! Layout, for plugin `p` (every key starts with `hookbox:{queue}:`, elided below):
//! - `seq`: the id sequence (`INCR`), shared by all plugins;
//! - `dedupe:<idempotency key>`: `"<first seen at>:<id>"`, expiring after the window;
//! - `plugin:p:item:<id>`: a hash per item (`ikey`, `okey`, `payload`, `attempts`, `enq`,
//!   `next`, `err`, `lease`; dead letters also `reason`, `dead_at`);
//! - `plugin:p:conv:<ordering key>`: a list, the conversation's unsettled item ids in order;
//! - `plugin:p:ready`: a stream with the consumer group `consumers`; each entry (a
//!   *ticket*) is `id <item id>`, one per conversation head that may be delivered now;
//! - `plugin:p:delayed`: a sorted set of heads waiting for a retry, scored by its time;
//! - `plugin:p:dead`: a sorted set of dead letter ids, scored by id;
//! - `plugin:p:stats`: a hash of `depth`, `overflows`, `duplicates`.
//!
//! The decision a reader may question: the stream carries tickets for conversation heads,
//! not every item. A consumer group hands entries out in stream order whatever their key,
//! so a stream of all items would let two replicas run one conversation's items at once.
//! Instead each non-empty conversation has exactly one head, and the head is in exactly one
//! place: the stream unread, a consumer's pending entries (leased), or `delayed`. The
//! group gives what it is good at: each ticket to one consumer (`XREADGROUP`), acks
//! (`XACK`), and a crashed or hung consumer's tickets claimed by another after the lease
//! timeout (`XAUTOCLAIM`). The items themselves wait in their conversation lists.
//!
//! Every operation is one Lua script, so every replica sees it whole. An item's `lease`
//! field is bumped each time it is handed out; settling checks it, so a consumer whose lease
//! was claimed by another cannot settle the item. Plugin names never contain `:`, so the
//! first `:` after `plugin:` ends the name and every key is unambiguous. The `{queue}` hash
//! tag puts every key in one Redis Cluster slot, as the scripts (which touch several
//! plugins, and keys named inside the script) need.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script, ScriptInvocation, Value};

use crate::clock::millis;
use crate::config::{RetryPlan, random_u64};
use crate::item::LeaseToken;
use crate::{
    DeadLetter, DeadLetterPage, DeadReason, EnqueueOutcome, Item, ItemId, Leased, NewItem,
    QueueConfig, QueueError, QueueStats, Selection,
};

const PREFIX: &str = "hookbox:{queue}:";
const GROUP: &str = "consumers";
/// Dead letters replayed or deleted per script call: short scripts, Redis stays responsive.
const CHUNK: usize = 500;

static ENQUEUE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/enqueue.lua")));
static LEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/lease.lua")));
static SETTLE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/settle.lua")));
static REPLAY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/replay.lua")));
static DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/delete.lua")));
static DEAD_LETTERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("redis/dead_letters.lua")));
static STATS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/stats.lua")));

#[derive(Clone)]
pub(crate) struct Redis {
    connection: ConnectionManager,
    /// `host:port` only: the URL may carry a password, and this ends up in errors and logs.
    addr: Arc<str>,
    /// This handle's consumer name in every plugin's group: `<pid>-<random>`.
    consumer: Arc<str>,
    config: QueueConfig,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("addr", &self.addr)
            .field("consumer", &self.consumer)
            .finish()
    }
}

/// As `hookbox-kv`: a lost connection is retried briefly, and a wrong address or password
/// at startup is an error within a second.
fn connection_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(250))
}

/// `hookbox:{queue}:plugin:<name>:`, which every key of the plugin's queue starts with.
fn plugin_prefix(plugin: &str) -> String {
    format!("{PREFIX}plugin:{plugin}:")
}

impl Redis {
    pub(crate) async fn connect(url: &str, config: QueueConfig) -> Result<Self, QueueError> {
        // redis-rs's URL errors are fixed phrases; they never repeat the URL.
        let client = redis::Client::open(url)
            .map_err(|e| QueueError::Backend(format!("invalid Redis URL: {e}")))?;
        let addr: Arc<str> = client.get_connection_info().addr().to_string().into();
        let connection = ConnectionManager::new_with_config(client, connection_config())
            .await
            .map_err(|e| QueueError::Backend(format!("cannot connect to Redis at {addr}: {e}")))?;
        let consumer = format!("{}-{:016x}", std::process::id(), random_u64()).into();
        Ok(Self {
            connection,
            addr,
            consumer,
            config,
        })
    }

    pub(crate) async fn enqueue(
        &self,
        plugins: &[Arc<str>],
        item: &NewItem,
        now_ms: u64,
    ) -> Result<EnqueueOutcome, QueueError> {
        let mut call = ENQUEUE.prepare_invoke();
        call.key(format!("{PREFIX}seq"))
            .key(format!("{PREFIX}dedupe:{}", item.idempotency_key))
            .arg(now_ms)
            .arg(millis(self.config.dedupe_window))
            .arg(self.config.max_items_per_plugin)
            .arg(&item.idempotency_key)
            .arg(&item.ordering_key)
            .arg(item.payload.as_slice());
        for plugin in plugins {
            call.arg(plugin_prefix(plugin));
        }
        let reply = self.run(&call).await?;
        let fields = self.array(&reply)?;
        let (Some(kind), Some(id)) = (fields.first(), fields.get(1).and_then(number)) else {
            return Err(self.unexpected(&reply));
        };
        let id = ItemId(id);
        match text(kind).as_deref() {
            Some("duplicate") => Ok(EnqueueOutcome::Duplicate { original: id }),
            Some("queued") if fields.len() == 2 => Ok(EnqueueOutcome::Queued { id }),
            Some("queued") => {
                let mut overflowed = Vec::new();
                for position in &fields[2..] {
                    let plugin = number(position)
                        .and_then(|position| plugins.get(usize::try_from(position).ok()? - 1))
                        .ok_or_else(|| self.unexpected(&reply))?;
                    overflowed.push(plugin.to_string());
                }
                Ok(EnqueueOutcome::Overflow {
                    id,
                    plugins: overflowed,
                })
            }
            _ => Err(self.unexpected(&reply)),
        }
    }

    pub(crate) async fn lease(
        &self,
        plugin: &Arc<str>,
        max: usize,
        now_ms: u64,
    ) -> Result<Vec<Leased>, QueueError> {
        let prefix = plugin_prefix(plugin);
        let mut call = LEASE.prepare_invoke();
        call.key(format!("{prefix}ready"))
            .key(format!("{prefix}delayed"))
            .arg(GROUP)
            .arg(&*self.consumer)
            .arg(now_ms)
            .arg(max)
            .arg(millis(self.config.lease_timeout))
            .arg(format!("{prefix}item:"));
        let reply = self.run(&call).await?;
        let mut leased = Vec::new();
        for entry in self.array(&reply)? {
            let fields = self.array(entry)?;
            let parsed = (|| {
                let ticket = text(fields.first()?)?;
                let generation = number(fields.get(1)?)?;
                let id = number(fields.get(2)?)?;
                let item = item_from(id, fields.get(3..10)?)?;
                Some(Leased {
                    plugin: Arc::clone(plugin),
                    item,
                    token: LeaseToken::Redis { ticket, generation },
                })
            })();
            leased.push(parsed.ok_or_else(|| self.unexpected(entry))?);
        }
        Ok(leased)
    }

    pub(crate) async fn settle(
        &self,
        leased: &Leased,
        plan: Option<(RetryPlan, &str)>,
        now_ms: u64,
    ) -> Result<(), QueueError> {
        let LeaseToken::Redis { ticket, generation } = &leased.token else {
            return Err(lost(leased));
        };
        let (how, at_ms, error) = match plan {
            None => ("ack", 0, ""),
            Some((RetryPlan::Retry { at_ms }, error)) => ("retry", at_ms, error),
            Some((RetryPlan::DeadLetter, error)) => ("dead", 0, error),
        };
        let prefix = plugin_prefix(&leased.plugin);
        let mut call = SETTLE.prepare_invoke();
        call.key(format!("{prefix}ready"))
            .key(format!("{prefix}delayed"))
            .key(format!("{prefix}stats"))
            .key(format!("{prefix}dead"))
            .key(format!("{prefix}conv:{}", leased.item.ordering_key))
            .arg(GROUP)
            .arg(ticket)
            .arg(format!("{prefix}item:"))
            .arg(leased.item.id.0)
            .arg(*generation)
            .arg(now_ms)
            .arg(how)
            .arg(at_ms)
            .arg(error);
        let reply = self.run(&call).await?;
        match reply {
            Value::Int(1) => Ok(()),
            Value::Int(0) => Err(lost(leased)),
            other => Err(self.unexpected(&other)),
        }
    }

    pub(crate) async fn replay_dead_letters(
        &self,
        plugin: &Arc<str>,
        which: Selection,
        now_ms: u64,
    ) -> Result<u64, QueueError> {
        let prefix = plugin_prefix(plugin);
        let call = |ids: &[ItemId]| {
            let mut call = REPLAY.prepare_invoke();
            call.key(format!("{PREFIX}seq"))
                .key(format!("{prefix}dead"))
                .key(format!("{prefix}stats"))
                .key(format!("{prefix}ready"))
                .arg(&prefix)
                .arg(now_ms);
            with_selection(&mut call, ids);
            call
        };
        self.in_chunks(which, call).await
    }

    pub(crate) async fn delete_dead_letters(
        &self,
        plugin: &Arc<str>,
        which: Selection,
    ) -> Result<u64, QueueError> {
        let prefix = plugin_prefix(plugin);
        let call = |ids: &[ItemId]| {
            let mut call = DELETE.prepare_invoke();
            call.key(format!("{prefix}dead"))
                .arg(format!("{prefix}item:"));
            with_selection(&mut call, ids);
            call
        };
        self.in_chunks(which, call).await
    }

    /// Runs a replay or delete script over `which`, [`CHUNK`] ids per call; an empty id
    /// list asks the script for the next [`CHUNK`] of all dead letters.
    async fn in_chunks<'s>(
        &self,
        which: Selection,
        call: impl Fn(&[ItemId]) -> ScriptInvocation<'s>,
    ) -> Result<u64, QueueError> {
        let mut total = 0;
        match which {
            Selection::Ids(ids) => {
                for chunk in ids.chunks(CHUNK) {
                    total += self.count(&call(chunk)).await?;
                }
            }
            Selection::All => loop {
                let done = self.count(&call(&[])).await?;
                total += done;
                if done < CHUNK as u64 {
                    break;
                }
            },
        }
        Ok(total)
    }

    pub(crate) async fn dead_letters(
        &self,
        plugin: &Arc<str>,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<DeadLetterPage, QueueError> {
        let prefix = plugin_prefix(plugin);
        let mut call = DEAD_LETTERS.prepare_invoke();
        call.key(format!("{prefix}dead"))
            .arg(format!("{prefix}item:"))
            .arg(after.map_or_else(|| "-inf".to_owned(), |after| format!("({after}")))
            // One more than asked, to know whether there is a next page.
            .arg(limit.saturating_add(1));
        let reply = self.run(&call).await?;
        let mut letters = Vec::new();
        let mut more = false;
        for entry in self.array(&reply)? {
            if letters.len() == limit {
                more = true;
                break;
            }
            let fields = self.array(entry)?;
            let parsed = (|| {
                let id = number(fields.first()?)?;
                Some(DeadLetter {
                    item: item_from(id, fields.get(1..8)?)?,
                    reason: DeadReason::parse(&bytes(fields.get(8)?)?)?,
                    dead_at_ms: number(fields.get(9)?)?,
                })
            })();
            letters.push(parsed.ok_or_else(|| self.unexpected(entry))?);
        }
        let next_cursor = if more {
            letters.last().map(|letter| letter.item.id)
        } else {
            None
        };
        Ok(DeadLetterPage {
            letters,
            next_cursor,
        })
    }

    pub(crate) async fn stats(&self, plugin: &Arc<str>) -> Result<QueueStats, QueueError> {
        let prefix = plugin_prefix(plugin);
        let mut call = STATS.prepare_invoke();
        call.key(format!("{prefix}stats"))
            .key(format!("{prefix}dead"))
            .key(format!("{prefix}ready"))
            .arg(GROUP);
        let reply = self.run(&call).await?;
        let numbers: Option<Vec<u64>> = self.array(&reply)?.iter().map(number).collect();
        match numbers.as_deref() {
            Some(&[depth, leased, dead_letters, overflows, duplicates]) => Ok(QueueStats {
                depth,
                leased,
                dead_letters,
                overflows,
                duplicates,
            }),
            _ => Err(self.unexpected(&reply)),
        }
    }

    async fn count(&self, call: &ScriptInvocation<'_>) -> Result<u64, QueueError> {
        let reply = self.run(call).await?;
        number(&reply).ok_or_else(|| self.unexpected(&reply))
    }

    async fn run(&self, call: &ScriptInvocation<'_>) -> Result<Value, QueueError> {
        call.invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed(&e))
    }

    fn array<'v>(&self, reply: &'v Value) -> Result<&'v [Value], QueueError> {
        match reply {
            Value::Array(values) => Ok(values),
            other => Err(self.unexpected(other)),
        }
    }

    fn failed(&self, e: &RedisError) -> QueueError {
        QueueError::Backend(format!("Redis at {}: {e}", self.addr))
    }

    fn unexpected(&self, reply: &Value) -> QueueError {
        QueueError::Backend(format!(
            "Redis at {}: unexpected script reply {reply:?}",
            self.addr
        ))
    }
}

/// `"ids", "", <ids...>` or `"all", <CHUNK>`: the selection arguments of the replay and
/// delete scripts.
fn with_selection(call: &mut ScriptInvocation<'_>, ids: &[ItemId]) {
    if ids.is_empty() {
        call.arg("all").arg(CHUNK);
    } else {
        call.arg("ids").arg("");
        for id in ids {
            call.arg(id.0);
        }
    }
}

/// An item from the seven fields `ikey, okey, payload, attempts, enq, next, err`.
fn item_from(id: u64, fields: &[Value]) -> Option<Item> {
    let [ikey, okey, payload, attempts, enqueued, next, error] = fields else {
        return None;
    };
    Some(Item {
        id: ItemId(id),
        idempotency_key: text(ikey)?,
        ordering_key: text(okey)?,
        payload: bytes(payload)?,
        attempts: u32::try_from(number(attempts)?).ok()?,
        enqueued_at_ms: number(enqueued)?,
        next_attempt_at_ms: number(next)?,
        last_error: match error {
            Value::Nil => None,
            error => Some(text(error)?),
        },
    })
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(text) => Some(text.clone().into_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    String::from_utf8(bytes(value)?).ok()
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Int(number) => u64::try_from(*number).ok(),
        other => text(other)?.parse().ok(),
    }
}

fn lost(leased: &Leased) -> QueueError {
    QueueError::LeaseLost {
        plugin: leased.plugin.to_string(),
        id: leased.item.id,
    }
}
