//! Fan-out of committed call changes and alerts to this node's streams: those this node
//! committed, and those other nodes committed (read back from the database when the bus
//! announces them). Each row is streamed once per node whichever way it arrived first.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use callvault_store::{CallStore, Store, StoreError};
use tokio::sync::broadcast;

use super::StreamItem;

/// Sequence numbers streamed lately (per table), to stream each row once.
#[derive(Default)]
struct Recent {
    set: HashSet<i64>,
    order: VecDeque<i64>,
    highest: i64,
}

/// How many sequence numbers per table a node remembers having streamed.
const REMEMBERED: usize = 65_536;

impl Recent {
    /// Whether `seq` is new (and remembers it).
    fn first(&mut self, seq: i64) -> bool {
        if !self.set.insert(seq) {
            return false;
        }
        self.order.push_back(seq);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.highest = self.highest.max(seq);
        true
    }
}

/// This node's live stream of committed changes and alerts.
pub(super) struct Relay {
    stream: broadcast::Sender<Arc<StreamItem>>,
    seen: Mutex<(Recent, Recent)>,
}

impl Relay {
    pub(super) fn new(stream: broadcast::Sender<Arc<StreamItem>>) -> Relay {
        Relay { stream, seen: Mutex::default() }
    }

    /// Streams items not streamed before, in order.
    pub(super) fn deliver(&self, items: Vec<StreamItem>) {
        let fresh: Vec<StreamItem> = {
            let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            items
                .into_iter()
                .filter(|i| if i.kind == "alert" { seen.1.first(i.seq) } else { seen.0.first(i.seq) })
                .collect()
        };
        for item in fresh {
            let _ = self.stream.send(Arc::new(item));
        }
    }

    /// The highest change and alert sequence numbers streamed.
    fn highest(&self) -> (i64, i64) {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (seen.0.highest, seen.1.highest)
    }

    /// Reads the announced ranges back and streams the rows not streamed yet.
    pub(super) async fn fetch(
        &self,
        store: &Store,
        changes: Option<(i64, i64)>,
        alerts: Option<(i64, i64)>,
    ) -> Result<(), StoreError> {
        let mut r = store.reader().await?;
        let mut items = Vec::new();
        if let Some((from, to)) = changes {
            for (tenant, row) in r.call_changes_between(from, to).await? {
                items.push(StreamItem { tenant, user: None, seq: row.seq, kind: "change", body: row.body });
            }
        }
        if let Some((from, to)) = alerts {
            for (tenant, user, row) in r.call_alerts_between(from, to).await? {
                items.push(StreamItem { tenant, user: Some(user), seq: row.seq, kind: "alert", body: row.body });
            }
        }
        drop(r);
        self.deliver(items);
        Ok(())
    }

    /// After a bus gap: streams every row committed after the highest ones streamed.
    pub(super) async fn catch_up(&self, store: &Store) -> Result<(), StoreError> {
        let (changes, alerts) = self.highest();
        self.fetch(store, Some((changes + 1, i64::MAX)), Some((alerts + 1, i64::MAX))).await
    }
}

/// The inclusive range of these sequence numbers.
pub(super) fn range(seqs: impl Iterator<Item = i64>) -> Option<(i64, i64)> {
    seqs.fold(None, |r, s| Some(r.map_or((s, s), |(a, b): (i64, i64)| (a.min(s), b.max(s)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_streamed_once_whichever_way_it_came() {
        let (tx, mut rx) = broadcast::channel(16);
        let relay = Relay::new(tx);
        let item = |seq, kind| StreamItem {
            tenant: callvault_model::TenantId::new(),
            user: None,
            seq,
            kind,
            body: String::new(),
        };
        relay.deliver(vec![item(1, "change"), item(1, "alert")]);
        relay.deliver(vec![item(1, "change"), item(2, "change"), item(1, "alert")]);
        let got: Vec<(i64, &str)> = std::iter::from_fn(|| rx.try_recv().ok()).map(|i| (i.seq, i.kind)).collect();
        assert_eq!(got, [(1, "change"), (1, "alert"), (2, "change")]);
        assert_eq!(relay.highest(), (2, 1));
        assert_eq!(range([5, 3, 9].into_iter()), Some((3, 9)));
        assert_eq!(range(std::iter::empty()), None);
    }
}
