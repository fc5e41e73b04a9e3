//! How many attempts one process has in flight: at most `GALLEY_WEBHOOK_CONCURRENCY` in all and
//! `GALLEY_WEBHOOK_ENDPOINT_CONCURRENCY` per endpoint, counted across the cursor stream and the
//! retries of that endpoint. A receiver that hangs thus holds only its endpoint's share, and
//! only until the attempt timeout.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use uuid::Uuid;

pub struct Slots {
    overall: Arc<Semaphore>,
    per_endpoint: usize,
    /// Attempts in flight by endpoint.
    busy: Mutex<HashMap<Uuid, usize>>,
    /// Bumped whenever a slot is given back, for whoever waits for one.
    freed: watch::Sender<u64>,
}

/// One attempt's place; given back when dropped.
pub struct Slot {
    /// Given back in `drop`, before waiters are told.
    permit: Option<OwnedSemaphorePermit>,
    slots: Arc<Slots>,
    endpoint: Uuid,
}

impl Slots {
    pub fn new(overall: usize, per_endpoint: usize) -> Arc<Self> {
        Arc::new(Self {
            overall: Arc::new(Semaphore::new(overall)),
            per_endpoint: per_endpoint.max(1),
            busy: Mutex::new(HashMap::new()),
            freed: watch::channel(0).0,
        })
    }

    pub fn per_endpoint(&self) -> usize {
        self.per_endpoint
    }

    /// Free slots in all.
    pub fn available(&self) -> usize {
        self.overall.available_permits()
    }

    /// How many more attempts `endpoint` may start now.
    pub fn free(&self, endpoint: Uuid) -> usize {
        let busy = self.in_flight(endpoint);
        self.per_endpoint
            .saturating_sub(busy)
            .min(self.overall.available_permits())
    }

    fn in_flight(&self, endpoint: Uuid) -> usize {
        self.busy
            .lock()
            .map(|busy| busy.get(&endpoint).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Up to `want` slots for `endpoint`, as many as are free (possibly none).
    pub fn take(self: &Arc<Self>, endpoint: Uuid, want: usize) -> Vec<Slot> {
        let Ok(mut busy) = self.busy.lock() else {
            return Vec::new();
        };
        let in_flight = busy.entry(endpoint).or_default();
        let mut taken = Vec::new();
        while taken.len() < want && *in_flight < self.per_endpoint {
            let Ok(permit) = self.overall.clone().try_acquire_owned() else {
                break;
            };
            *in_flight += 1;
            taken.push(Slot {
                permit: Some(permit),
                slots: self.clone(),
                endpoint,
            });
        }
        taken
    }

    /// Take it before looking for free slots, and wait on it when there are none.
    pub fn watch_freed(&self) -> watch::Receiver<u64> {
        self.freed.subscribe()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.slots.busy.lock()
            && let Some(n) = busy.get_mut(&self.endpoint)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(&self.endpoint);
            }
        }
        drop(self.permit.take());
        self.slots.freed.send_modify(|n| *n = n.wrapping_add(1));
    }
}
