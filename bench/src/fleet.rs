//! A fleet of logged-in clients, each recording when pushes reach it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use msgpush_protocol::defaults::events;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::client::{Client, Target};

/// One message seen by one client.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    /// When it was sent, in ns since the Unix epoch.
    pub sent_ns: u64,
    /// When the client read it, in ns since the Unix epoch.
    pub received_ns: u64,
    /// When the client's kernel received it (the server's write), in ns
    /// since the Unix epoch.
    pub kernel_ns: u64,
}

/// Tallies of a benchmark run. Times are wall-clock ns since the Unix
/// epoch, so that receipts from generator processes compare with the
/// sending time of the process that pushed.
#[derive(Debug)]
pub struct Recorder {
    receipts: Mutex<Vec<Receipt>>,
    login_acks_ns: Mutex<Vec<u64>>,
    acked: AtomicUsize,
    failed: AtomicUsize,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            receipts: Mutex::new(Vec::new()),
            login_acks_ns: Mutex::new(Vec::new()),
            acked: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        })
    }

    /// Nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    }

    /// Adds receipts recorded elsewhere (by a generator process).
    pub fn add_receipts(&self, receipts: impl IntoIterator<Item = Receipt>) {
        self.receipts.lock().unwrap().extend(receipts);
    }

    /// Takes the receipts recorded so far.
    pub fn take_receipts(&self) -> Vec<Receipt> {
        std::mem::take(&mut self.receipts.lock().unwrap())
    }

    /// When each client's login was answered, in ns since the Unix epoch.
    pub fn login_acks_ns(&self) -> Vec<u64> {
        self.login_acks_ns.lock().unwrap().clone()
    }

    /// Clients whose connection or login failed.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    fn record(&self, content: &str, kernel_ns: u64) {
        let received_ns = self.now_ns();
        let mut parts = content.split(' ');
        // "<push number> <sent ns>"
        if let Some(Ok(sent_ns)) = parts.nth(1).map(str::parse) {
            self.receipts.lock().unwrap().push(Receipt { sent_ns, received_ns, kernel_ns });
        }
    }
}

/// Running clients; dropping the fleet disconnects them all.
pub struct Fleet {
    tasks: Vec<JoinHandle<()>>,
    recorder: Arc<Recorder>,
}

impl Fleet {
    /// Starts one client per login (a token, or a uid), at most
    /// `concurrency` connecting at once,
    /// spreading source addresses over `sources`.
    pub fn start(
        target: &Target,
        logins: &[String],
        concurrency: usize,
        sources: &[IpAddr],
        recorder: Arc<Recorder>,
    ) -> Fleet {
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let tasks = logins
            .iter()
            .enumerate()
            .map(|(i, login)| {
                let (target, login, gate, recorder) = (target.clone(), login.clone(), gate.clone(), recorder.clone());
                let source = sources.get(i % sources.len().max(1)).copied();
                tokio::spawn(async move {
                    // Held until the login is answered: `concurrency` bounds logins in progress.
                    let mut permit = Some(gate.acquire_owned().await.expect("never closed"));
                    let mut client = match Client::connect(&target, source, &login).await {
                        Ok(client) => client,
                        Err(_) => {
                            recorder.failed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                    let mut acked = false;
                    while let Ok((event, argument)) = client.next_event().await {
                        if !acked && event == events::ONLINE_COUNT {
                            // The server answers a login with the online count.
                            acked = true;
                            recorder.login_acks_ns.lock().unwrap().push(recorder.now_ns());
                            recorder.acked.fetch_add(1, Ordering::Relaxed);
                            permit.take();
                        } else if event == events::NEW_MSG {
                            recorder.record(&argument, client.received_ns());
                        }
                    }
                    if !acked {
                        recorder.failed.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Fleet { tasks, recorder }
    }

    /// Waits until every client is logged in or failed; returns the logged-in count.
    pub async fn wait_logged_in(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let settled = || self.recorder.acked.load(Ordering::Relaxed) + self.recorder.failed.load(Ordering::Relaxed);
        while settled() < self.tasks.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.recorder.acked.load(Ordering::Relaxed)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
