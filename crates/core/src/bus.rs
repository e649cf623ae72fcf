//! The nodes' bus: what one node must tell the others sharing its PostgreSQL database. Call
//! changes and alerts are announced by the transaction that commits them (PostgreSQL
//! `NOTIFY`, delivered at commit, never for a rollback), as ranges of their sequence numbers:
//! the rows themselves are the outbox, read back by every other node and streamed to its SSE
//! clients, so an alert produced on one node reaches a client on any node, and `Last-Event-ID`
//! replay reads the same rows. Cached state (a tenant's telecom policy, its stations, the
//! capture agents, internal do-not-call lists) is announced after its change commits, and the
//! other nodes drop or reload their copy. Payloads are a few dozen bytes, far below
//! PostgreSQL's 8,000-byte limit; no number, name or content travels on the bus.
//!
//! On SQLite (one node) the bus is silent. A lost listener connection is a gap: every cache is
//! dropped and the call rows after the last ones seen are read again.

use std::sync::Arc;

use callvault_model::{DncListId, TenantId};
use callvault_store::{Heard, Store};
use serde::{Deserialize, Serialize};

use crate::services::Services;

/// What the bus carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// Call changes and alerts committed with these sequence numbers (inclusive ranges; rows of
    /// other transactions within a range are streamed once all the same).
    Calls {
        /// Changes (`op_call_change.seq`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        changes: Option<(i64, i64)>,
        /// Alerts (`op_call_alert.seq`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alerts: Option<(i64, i64)>,
    },
    /// A tenant's telecom policy, areas, assignments or list set changed.
    Dial {
        /// The tenant.
        tenant: TenantId,
    },
    /// The numbers of an internal do-not-call list changed, or the list was added or removed.
    DncList {
        /// The tenant.
        tenant: TenantId,
        /// The list.
        list: DncListId,
    },
    /// A tenant's stations or alert opt-outs changed.
    Stations {
        /// The tenant.
        tenant: TenantId,
    },
    /// Capture agents were added or removed.
    Agents,
}

/// One message with the node that sent it (a node ignores its own).
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: String,
    #[serde(flatten)]
    message: Message,
}

/// Sends on the bus.
#[derive(Clone)]
pub struct Bus {
    node: Arc<str>,
    store: Store,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("node", &self.node).finish()
    }
}

impl Bus {
    /// The bus of node `node` over `store`.
    pub fn new(store: Store, node: &str) -> Bus {
        Bus { node: node.into(), store }
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The payload of `message` from this node.
    pub fn payload(&self, message: &Message) -> String {
        serde_json::to_string(&Envelope { node: self.node.to_string(), message: message.clone() }).unwrap_or_default()
    }

    /// Announces `message` with the transaction that commits what it is about.
    pub async fn announce_in(
        &self,
        tx: &mut callvault_store::Tx,
        message: &Message,
    ) -> Result<(), callvault_store::StoreError> {
        tx.notify(&self.payload(message)).await
    }

    /// Announces `message` about a change already committed (in the background: the caller
    /// has already answered from its own state; a failure is logged).
    pub fn announce(&self, message: Message) {
        if self.store.backend() == callvault_store::Backend::Sqlite {
            return;
        }
        let bus = self.clone();
        tokio::spawn(async move {
            if let Err(e) = bus.store.notify(&bus.payload(&message)).await {
                tracing::error!(error = %e, "announcing a change to the other nodes failed");
            }
        });
    }
}

/// Hears the bus until the process ends (PostgreSQL only; returns at once on SQLite).
pub async fn run(state: Services) {
    let mut listener = loop {
        match state.store.listen().await {
            Ok(Some(l)) => break l,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen to the other nodes; retrying in 1 s");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        match listener.recv().await {
            Ok(Heard::Message(payload)) => {
                let Ok(envelope) = serde_json::from_str::<Envelope>(&payload) else {
                    tracing::warn!(bytes = payload.len(), "a bus message that does not decode was ignored");
                    continue;
                };
                if envelope.node == state.bus.node() {
                    continue;
                }
                apply(&state, envelope.message).await;
            }
            Ok(Heard::Gap) => {
                tracing::warn!("the bus connection was lost; dropping caches and reading recent call changes again");
                state.dial.forget_all();
                state.calls.forget_all();
                if let Err(e) = state.dial.reload_lists(&state.store).await {
                    tracing::error!(error = %e, "reloading do-not-call lists after a bus gap failed");
                }
                if let Err(e) = state.calls.catch_up().await {
                    tracing::error!(error = %e, "reading call changes after a bus gap failed");
                }
                if let Err(e) = state.calls.reload_agents_local().await {
                    tracing::error!(error = %e, "reloading capture agents after a bus gap failed");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "the bus cannot be heard; retrying in 1 s");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

async fn apply(state: &Services, message: Message) {
    let result = match message {
        Message::Calls { changes, alerts } => state.calls.relay(changes, alerts).await,
        Message::Dial { tenant } => {
            state.dial.invalidate_local(tenant);
            Ok(())
        }
        Message::DncList { tenant, list } => state.dial.reload_list(&state.store, tenant, list).await,
        Message::Stations { tenant } => {
            state.calls.invalidate_local(tenant);
            Ok(())
        }
        Message::Agents => state.calls.reload_agents_local().await,
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "applying another node's change failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_small_and_round_trip() {
        let tenant = TenantId::new();
        for m in [
            Message::Calls { changes: Some((1, i64::MAX)), alerts: Some((i64::MAX - 1, i64::MAX)) },
            Message::Calls { changes: None, alerts: Some((7, 9)) },
            Message::Dial { tenant },
            Message::DncList { tenant, list: DncListId::new() },
            Message::Stations { tenant },
            Message::Agents,
        ] {
            let text =
                serde_json::to_string(&Envelope { node: "host-with-a-long-name:8443".into(), message: m.clone() })
                    .unwrap_or_default();
            assert!(text.len() < 256, "{text}");
            let back: Envelope = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(back.message, m);
        }
    }
}
