//! Calls tracked by several nodes sharing PostgreSQL: a call's legs may reach different nodes
//! (two capture agents, each mirroring one side of a proxy to its own node), so no node keeps
//! a call in memory. Each message is applied in one transaction that takes the call's lock (an
//! advisory lock on tenant and key, which also covers a call its INVITE is about to create),
//! reads the call with its SIP memory, applies the message exactly as one node would, and
//! writes the call, its changes, alerts and audit entries before the lock is released; the
//! other nodes stream the changes when the bus announces them. The result is the one-node
//! result whatever the order in which the nodes took their turns.

use std::collections::HashMap;

use callvault_model::TenantId;
use callvault_store::{CallStore, StoreError};

use super::{CallError, CallView, Calls, Tracked, Write, announce_items, write_rows};

/// A node's in-memory calls, or the one call read under its lock.
pub(super) type CallMap = HashMap<(TenantId, String), Tracked>;

fn store_failed(e: StoreError) -> CallError {
    tracing::error!(error = %e, "recording call security failed");
    CallError::Store
}

impl Calls {
    /// Whether calls are kept in the database (nodes sharing PostgreSQL) rather than in memory.
    pub(super) fn shared(&self) -> bool {
        self.store.backend() == callvault_store::Backend::Postgres
    }

    /// Whether calls are kept in the database (several nodes): each message is a transaction,
    /// so a listener applies messages of different calls at once.
    pub fn in_database(&self) -> bool {
        self.shared()
    }

    /// Runs `step` on the call `(tenant, call_key)`: in memory under the calls' mutex (one
    /// node; the write follows through the group commit, awaited when `durable`), or under the
    /// call's lock in the database (several nodes; durable before this returns).
    pub(super) async fn run_step<T>(
        &self,
        tenant: TenantId,
        call_key: &str,
        durable: bool,
        step: impl FnOnce(&mut CallMap) -> Result<(T, Option<Write>), CallError>,
    ) -> Result<T, CallError> {
        if !self.shared() {
            let (out, write) = {
                let mut calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                step(&mut calls)?
            };
            if let Some(w) = write {
                self.send(w, durable).await?;
            }
            return Ok(out);
        }
        let mut tx = self.store.begin().await.map_err(store_failed)?;
        tx.lock_call_key(tenant, call_key).await.map_err(store_failed)?;
        let mut calls = CallMap::new();
        if let Some(row) = tx.open_call(tenant, call_key).await.map_err(store_failed)? {
            let t = Tracked::from_row(&row).ok_or(CallError::Store)?;
            calls.insert((tenant, call_key.to_owned()), t);
        }
        let found = !calls.is_empty();
        // A refused step rolls back (the transaction is dropped): nothing was written.
        let (out, write) = step(&mut calls)?;
        if let Some(w) = write {
            if !found && w.row.ended_at.is_none() {
                // A new call: counted against the caps with every node's calls.
                let (all, own) = tx.lock_open_call_counts(tenant).await.map_err(store_failed)?;
                self.admit(usize::try_from(all).unwrap_or(usize::MAX), usize::try_from(own).unwrap_or(usize::MAX))?;
            }
            let items = write_rows(&mut tx, &self.auditor, std::slice::from_ref(&w)).await.map_err(store_failed)?;
            announce_items(&self.bus, &mut tx, &items).await.map_err(store_failed)?;
            tx.commit().await.map_err(store_failed)?;
            self.relay.deliver(items);
        }
        Ok(out)
    }

    /// With several nodes, the write that keeps a call's SIP memory when a message changed
    /// nothing else (an early response kept for its INVITE); nothing on one node.
    pub(super) fn memory_only(&self, tenant: TenantId, call_key: &str, t: &Tracked) -> Option<Write> {
        self.shared().then(|| Write {
            row: t.row(tenant, call_key, t.updated_at, false, true),
            changes: Vec::new(),
            alerts: Vec::new(),
            done: None,
        })
    }

    /// A tenant's calls in progress, newest first.
    pub async fn current(&self, tenant: TenantId) -> Result<Vec<CallView>, CallError> {
        if !self.shared() {
            let calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut out: Vec<CallView> =
                calls.iter().filter(|((t, _), _)| *t == tenant).map(|((_, key), c)| c.view(key, None)).collect();
            out.sort_by_key(|c| std::cmp::Reverse(c.started_at));
            return Ok(out);
        }
        let rows = self.store.reader().await.map_err(store_failed)?.calls(tenant, true, 10_000).await;
        Ok(rows
            .map_err(store_failed)?
            .iter()
            .filter_map(|row| Some(Tracked::from_row(row)?.view(&row.call_key, None)))
            .collect())
    }

    /// Closes calls without an event for `idle_ms`; returns how many.
    pub async fn close_idle(&self, now: i64, idle_ms: i64) -> usize {
        if !self.shared() {
            return self.close_idle_here(now, idle_ms).await;
        }
        let open = match self.store.reader().await {
            Ok(mut r) => r.open_calls().await,
            Err(e) => Err(e),
        };
        let idle: Vec<(TenantId, String)> = match open {
            Ok(rows) => rows
                .into_iter()
                .filter(|r| now - r.updated_at.0 >= idle_ms)
                .map(|r| (r.tenant_id, r.call_key))
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "reading open calls failed");
                return 0;
            }
        };
        let mut closed = 0;
        for (tenant, key) in idle {
            // Under the call's lock, and only if still idle: another node may have closed it,
            // or a message may just have reached it.
            let result = self
                .run_step(tenant, &key, true, |calls| {
                    let Some(t) = calls.get(&(tenant, key.clone())) else { return Ok((false, None)) };
                    if now - t.updated_at < idle_ms {
                        return Ok((false, None));
                    }
                    let row = t.row(tenant, &key, now, true, true);
                    Ok((true, Some(Write { row, changes: Vec::new(), alerts: Vec::new(), done: None })))
                })
                .await;
            if let Ok(true) = result {
                closed += 1;
            }
        }
        closed
    }
}
