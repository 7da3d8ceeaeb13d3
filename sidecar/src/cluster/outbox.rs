//! What a node writes to Redis on its pushes' path, in the order the pushes
//! placed it and many commands to one round trip: one task takes every
//! command waiting and sends them as one pipeline, and while Redis answers,
//! the next ones gather. A push's place is taken once its command is queued
//! here, so the next push of its connection need not wait for Redis's
//! answer: throughput is no longer one push per round trip. Each answer is
//! handed to its push's callback in the order of the commands (so that what
//! a push does when Redis failed also happens in order). The scripts a trip
//! runs are loaded at its start (Redis knows them already, and answers at
//! once): a Redis that restarted, or forgot its scripts, never answers a
//! push `NOSCRIPT`, which a retry could only fix out of order.

use redis::aio::ConnectionManager;
use redis::{Cmd, RedisResult, Script, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::driver::{bounded, PUSH_TIMEOUT};

/// Commands sent in one round trip at most.
const MOST_PER_TRIP: usize = 512;

/// What becomes of a command's answer (Redis's reply, or why there is none).
pub type Done = Box<dyn FnOnce(RedisResult<Value>) + Send>;

/// A command to write, with its callback.
struct Job {
    command: Cmd,
    /// The script an `EVALSHA` command runs.
    script: Option<&'static Lua>,
    done: Done,
}

/// A Lua script the outbox runs, with its text, to load.
pub struct Lua {
    script: Script,
    code: String,
}

impl Lua {
    /// The script `code`.
    pub fn new(code: String) -> Lua {
        Lua { script: Script::new(&code), code }
    }

    /// An `EVALSHA` of this script with `keys`; the arguments follow.
    pub fn call(&self, keys: &[&str]) -> Cmd {
        let mut command = redis::cmd("EVALSHA");
        command.arg(self.script.get_hash()).arg(keys.len()).arg(keys);
        command
    }
}

/// The queue of commands to write; cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    jobs: mpsc::Sender<Job>,
}

/// The task that writes them.
pub struct Writer {
    jobs: mpsc::Receiver<Job>,
    conn: ConnectionManager,
}

/// An outbox holding at most `capacity` commands, and its writer over `conn`.
pub fn outbox(conn: ConnectionManager, capacity: usize) -> (Outbox, Writer) {
    let (jobs, queue) = mpsc::channel(capacity);
    (Outbox { jobs }, Writer { jobs: queue, conn })
}

impl Outbox {
    /// Queues `command` (a [`Lua::call`] of `script`, or none), waiting for
    /// room; `done` gets its answer. Once this returns, a command queued
    /// later is written after it.
    pub async fn send(&self, command: Cmd, script: Option<&'static Lua>, done: Done) {
        if let Err(refused) = self.jobs.send(Job { command, script, done }).await {
            (refused.0.done)(Err((redis::ErrorKind::Io, "the node is shutting down").into()));
        }
    }

    /// Commands waiting to be written, for the metrics.
    pub fn waiting(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }
}

impl Writer {
    /// Writes what is queued until shutdown, and then what was queued
    /// before it.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut jobs = Vec::with_capacity(MOST_PER_TRIP);
        loop {
            let taken = tokio::select! {
                taken = self.jobs.recv_many(&mut jobs, MOST_PER_TRIP) => taken,
                _ = shutdown.cancelled() => break,
            };
            if taken == 0 {
                return;
            }
            self.finish(&mut jobs).await;
        }
        self.jobs.close();
        while self.jobs.recv_many(&mut jobs, MOST_PER_TRIP).await > 0 {
            self.finish(&mut jobs).await;
        }
    }

    /// Writes `jobs` and hands each its answer, in order.
    async fn finish(&mut self, jobs: &mut Vec<Job>) {
        let answers = self.write(&mut jobs[..]).await;
        for (job, answer) in jobs.drain(..).zip(answers) {
            (job.done)(answer);
        }
    }

    /// Sends `jobs` as one pipeline, after loading the scripts they run;
    /// returns each one's answer, or all the same error when the trip
    /// failed.
    async fn write(&mut self, jobs: &mut [Job]) -> Vec<RedisResult<Value>> {
        let mut scripts: Vec<&Lua> = Vec::new();
        for script in jobs.iter().filter_map(|job| job.script) {
            if !scripts.iter().any(|known| std::ptr::eq(*known, script)) {
                scripts.push(script);
            }
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for script in &scripts {
            pipe.cmd("SCRIPT").arg("LOAD").arg(&script.code).ignore();
        }
        for job in jobs.iter_mut() {
            pipe.add_command(std::mem::replace(&mut job.command, Cmd::new()));
        }
        match bounded(PUSH_TIMEOUT, pipe.query_async::<Vec<Value>>(&mut self.conn)).await {
            Ok(values) if values.len() == jobs.len() => values.into_iter().map(Value::extract_error).collect(),
            Ok(_) => failed(jobs.len(), (redis::ErrorKind::Client, "Redis answered a pipeline wrongly").into()),
            Err(e) => failed(jobs.len(), e),
        }
    }
}

fn failed(n: usize, error: redis::RedisError) -> Vec<RedisResult<Value>> {
    vec![Err(error); n]
}
