//! Durable state of the prover service: models and jobs in SQLite (`DATA/zkinfer.db`, WAL
//! mode), artifacts as files under `DATA/models/<id>/` and `DATA/jobs/<id>/` (written
//! atomically by the pipeline). Every state change is one SQL statement, so a crash leaves
//! each row either before or after it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use super::proto::JobState;

/// A model row.
#[derive(Clone, Debug, Default)]
pub struct ModelRow {
    pub id: String,
    pub name: String,
    /// "registered", "ready" or "failed".
    pub state: String,
    pub k: u32,
    pub num_instances: u32,
    pub vk_hash: String,
    pub error: String,
    /// Mean prove seconds of its finished jobs (0 before the first).
    pub mean_prove_seconds: f64,
}

/// A job row.
#[derive(Clone, Debug, Default)]
pub struct JobRow {
    pub id: String,
    pub model_id: String,
    pub state: i32,
    pub phase: String,
    pub error: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: i64,
    pub prove_seconds: f64,
    pub attempts: u32,
}

pub struct Store {
    conn: Mutex<Connection>,
    data: PathBuf,
}

/// Starts of one job a crash may interrupt before the job is failed instead of run again.
pub const MAX_ATTEMPTS: u32 = 3;

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    k INTEGER NOT NULL DEFAULT 0,
    num_instances INTEGER NOT NULL DEFAULT 0,
    vk_hash TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    model_id TEXT NOT NULL REFERENCES models(id),
    state INTEGER NOT NULL,
    phase TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER NOT NULL DEFAULT 0,
    prove_seconds REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
CREATE TABLE IF NOT EXISTS market_jobs (
    job INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    local_job TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    gas INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// A market job as the provider node saw it.
#[derive(Clone, Debug)]
pub struct MarketJobRow {
    pub job: u64,
    /// "skipped", "lost", "claimed", "batching", "proving", "paid", "failed".
    pub state: String,
    pub local_job: String,
    pub note: String,
    pub gas: u64,
}

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        model_id: r.get(1)?,
        state: r.get(2)?,
        phase: r.get(3)?,
        error: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        started_at: r.get(7)?,
        prove_seconds: r.get(8)?,
        attempts: r.get(9)?,
    })
}

const JOB_COLS: &str = "id, model_id, state, phase, error, created_at, updated_at, started_at, prove_seconds, attempts";

impl Store {
    /// Opens (creating if needed) the store in `data`. Jobs left running by a previous server
    /// are queued again.
    pub fn open(data: &Path) -> Result<Store> {
        std::fs::create_dir_all(data.join("models")).with_context(|| format!("cannot create {}", data.display()))?;
        std::fs::create_dir_all(data.join("jobs")).with_context(|| format!("cannot create {}", data.display()))?;
        let db = data.join("zkinfer.db");
        let conn = Connection::open(&db).with_context(|| format!("cannot open {}", db.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL").context("sqlite WAL mode")?;
        conn.pragma_update(None, "synchronous", "FULL").context("sqlite synchronous")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA).with_context(|| format!("{} is not a zkinfer database", db.display()))?;
        // jobs a crash interrupted run again, unless they were interrupted MAX_ATTEMPTS times
        // already (a job that takes the machine down must not do so forever)
        let why = format!("interrupted {MAX_ATTEMPTS} times (the server stopped while it was proving): not retried");
        conn.execute("UPDATE jobs SET state = ?1, phase = '', error = ?2, updated_at = ?3 WHERE state = ?4 AND attempts >= ?5", params![JobState::Failed as i32, why, now(), JobState::Running as i32, MAX_ATTEMPTS])?;
        conn.execute("UPDATE jobs SET state = ?1, phase = '', updated_at = ?2 WHERE state = ?3", params![JobState::Queued as i32, now(), JobState::Running as i32])?;
        Ok(Store { conn: Mutex::new(conn), data: data.to_path_buf() })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // a panic while holding the lock cannot leave SQLite inconsistent: keep going
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn model_dir(&self, id: &str) -> PathBuf {
        self.data.join("models").join(id)
    }

    /// Scratch files (a proof under verification), removed after use.
    pub fn tmp_dir(&self) -> PathBuf {
        self.data.join("tmp")
    }

    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.data.join("jobs").join(id)
    }

    /// Inserts a model unless it exists; returns the stored row.
    pub fn add_model(&self, id: &str, name: &str) -> Result<ModelRow> {
        self.db().execute("INSERT OR IGNORE INTO models (id, name, state, created_at) VALUES (?1, ?2, 'registered', ?3)", params![id, name, now()])?;
        self.model(id)?.context("model vanished after insert")
    }

    pub fn model(&self, id: &str) -> Result<Option<ModelRow>> {
        let db = self.db();
        let row = db
            .query_row(
                "SELECT id, name, state, k, num_instances, vk_hash, error,
                        (SELECT COALESCE(AVG(prove_seconds), 0) FROM jobs WHERE model_id = models.id AND state = ?2)
                 FROM models WHERE id = ?1",
                params![id, JobState::Done as i32],
                |r| {
                    Ok(ModelRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        state: r.get(2)?,
                        k: r.get(3)?,
                        num_instances: r.get(4)?,
                        vk_hash: r.get(5)?,
                        error: r.get(6)?,
                        mean_prove_seconds: r.get(7)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Model ids starting with `prefix` (at most 2, enough to tell "unique" from "ambiguous").
    pub fn models_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db.prepare("SELECT id FROM models WHERE substr(id, 1, length(?1)) = ?1 LIMIT 2")?;
        let ids = st.query_map(params![prefix], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    pub fn set_model_compiled(&self, id: &str, k: u32, num_instances: u32) -> Result<()> {
        self.db().execute("UPDATE models SET state = 'compiled', k = ?2, num_instances = ?3, error = '' WHERE id = ?1 AND state != 'ready'", params![id, k, num_instances])?;
        Ok(())
    }

    /// The UNSAFE dev SRS cached for size `k` (see [`Self::dev_srs`]), if written.
    pub fn dev_srs_path(&self, k: u32) -> PathBuf {
        self.data.join("srs").join(format!("dev-unsafe-k{k}.srs"))
    }

    /// Writes the UNSAFE dev SRS for `k` once, so workers load it instead of deriving it for
    /// every proof (tests and demos only, like every dev SRS).
    pub fn cache_dev_srs(&self, k: u32) -> Result<PathBuf> {
        let p = self.dev_srs_path(k);
        if !p.exists() {
            std::fs::create_dir_all(self.data.join("srs"))?;
            let (params, _) = zkinfer_prover::srs::dev_srs(k)?;
            zkinfer_prover::srs::save_srs(&params, &p)?;
        }
        Ok(p)
    }

    pub fn set_model_ready(&self, id: &str, k: u32, num_instances: u32, vk_hash: &str) -> Result<()> {
        self.db().execute("UPDATE models SET state = 'ready', k = ?2, num_instances = ?3, vk_hash = ?4, error = '' WHERE id = ?1", params![id, k, num_instances, vk_hash])?;
        Ok(())
    }

    pub fn set_model_failed(&self, id: &str, error: &str) -> Result<()> {
        self.db().execute("UPDATE models SET state = 'failed', error = ?2 WHERE id = ?1", params![id, error])?;
        Ok(())
    }

    /// Queues a job unless `capacity` jobs are already queued; `Ok(false)` when full.
    pub fn add_job(&self, id: &str, model_id: &str, capacity: u32) -> Result<bool> {
        let db = self.db();
        let t = now();
        let n = db.execute(
            "INSERT INTO jobs (id, model_id, state, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?4 WHERE (SELECT COUNT(*) FROM jobs WHERE state = ?3) < ?5",
            params![id, model_id, JobState::Queued as i32, t, capacity],
        )?;
        Ok(n == 1)
    }

    pub fn job(&self, id: &str) -> Result<Option<JobRow>> {
        let db = self.db();
        Ok(db.query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"), params![id], job_row).optional()?)
    }

    pub fn jobs(&self, model_id: Option<&str>, limit: u32) -> Result<Vec<JobRow>> {
        let db = self.db();
        let mut st = db.prepare(&format!("SELECT {JOB_COLS} FROM jobs WHERE (?1 IS NULL OR model_id = ?1) ORDER BY seq DESC LIMIT ?2"))?;
        let rows = st.query_map(params![model_id, limit], job_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Takes the oldest queued job: marks it running (attempts + 1) and returns it.
    pub fn take_next(&self) -> Result<Option<JobRow>> {
        let db = self.db();
        let t = now();
        let id: Option<String> = db
            .query_row(
                "UPDATE jobs SET state = ?1, phase = 'witness', attempts = attempts + 1, started_at = ?2, updated_at = ?2
                 WHERE seq = (SELECT seq FROM jobs WHERE state = ?3 ORDER BY seq LIMIT 1) RETURNING id",
                params![JobState::Running as i32, t, JobState::Queued as i32],
                |r| r.get(0),
            )
            .optional()?;
        drop(db);
        match id {
            Some(id) => self.job(&id),
            None => Ok(None),
        }
    }

    pub fn set_phase(&self, id: &str, phase: &str) -> Result<()> {
        self.db().execute("UPDATE jobs SET phase = ?2, updated_at = ?3 WHERE id = ?1 AND state = ?4", params![id, phase, now(), JobState::Running as i32])?;
        Ok(())
    }

    /// Ends a running job (done or failed); a job cancelled meanwhile stays cancelled.
    pub fn finish(&self, id: &str, state: JobState, error: &str, prove_seconds: f64) -> Result<()> {
        self.db().execute(
            "UPDATE jobs SET state = ?2, phase = '', error = ?3, prove_seconds = ?4, updated_at = ?5 WHERE id = ?1 AND state = ?6",
            params![id, state as i32, error, prove_seconds, now(), JobState::Running as i32],
        )?;
        Ok(())
    }

    /// Cancels a queued or running job; returns whether it was.
    /// Deletes the finished (done, failed, cancelled) jobs last updated before `before` (unix
    /// seconds): their rows and their directories (inputs, proof). Returns how many.
    pub fn purge_finished(&self, before: i64) -> Result<usize> {
        let ids: Vec<String> = {
            let db = self.db();
            let mut st = db.prepare("SELECT id FROM jobs WHERE state IN (?1, ?2, ?3) AND updated_at < ?4")?;
            let rows = st.query_map(params![JobState::Done as i32, JobState::Failed as i32, JobState::Cancelled as i32, before], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for id in &ids {
            // the directory first: a crash in between leaves a row without files, which reads
            // as a job whose proof is gone, never files without a row
            let dir = self.job_dir(id);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
            }
            self.db().execute("DELETE FROM jobs WHERE id = ?1", params![id])?;
        }
        Ok(ids.len())
    }

    pub fn cancel(&self, id: &str) -> Result<bool> {
        let n = self.db().execute(
            "UPDATE jobs SET state = ?2, phase = '', updated_at = ?3 WHERE id = ?1 AND state IN (?4, ?5)",
            params![id, JobState::Cancelled as i32, now(), JobState::Queued as i32, JobState::Running as i32],
        )?;
        Ok(n == 1)
    }

    /// Records the node's view of market job `job` (insert or replace).
    pub fn set_market_job(&self, job: u64, state: &str, local_job: &str, note: &str, gas: u64) -> Result<()> {
        self.db().execute(
            "INSERT INTO market_jobs (job, state, local_job, note, gas, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(job) DO UPDATE SET state = ?2, local_job = ?3, note = ?4, gas = gas + ?5, updated_at = ?6",
            params![job as i64, state, local_job, note, gas as i64, now()],
        )?;
        Ok(())
    }

    pub fn market_jobs(&self, state: Option<&str>) -> Result<Vec<MarketJobRow>> {
        let db = self.db();
        let mut st = db.prepare("SELECT job, state, local_job, note, gas FROM market_jobs WHERE (?1 IS NULL OR state = ?1) ORDER BY job")?;
        let rows = st
            .query_map(params![state], |r| Ok(MarketJobRow { job: r.get::<_, i64>(0)? as u64, state: r.get(1)?, local_job: r.get(2)?, note: r.get(3)?, gas: r.get::<_, i64>(4)? as u64 }))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.db().query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| r.get(0)).optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.db().execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2", params![key, value])?;
        Ok(())
    }

    /// Number of jobs in each state (all states, zero included).
    pub fn state_counts(&self) -> Result<Vec<(JobState, u64)>> {
        let db = self.db();
        [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed, JobState::Cancelled]
            .into_iter()
            .map(|s| Ok((s, db.query_row("SELECT COUNT(*) FROM jobs WHERE state = ?1", params![s as i32], |r| r.get::<_, i64>(0))? as u64)))
            .collect()
    }

    /// Prove-time histogram of finished jobs: cumulative counts for each upper bound, then
    /// (sum, count).
    pub fn prove_histogram(&self, bounds: &[f64]) -> Result<(Vec<u64>, f64, u64)> {
        let db = self.db();
        let done = JobState::Done as i32;
        let mut cum = Vec::with_capacity(bounds.len());
        for b in bounds {
            cum.push(db.query_row("SELECT COUNT(*) FROM jobs WHERE state = ?1 AND prove_seconds <= ?2", params![done, b], |r| r.get::<_, i64>(0))? as u64);
        }
        let (sum, count): (f64, i64) = db.query_row("SELECT COALESCE(SUM(prove_seconds), 0), COUNT(*) FROM jobs WHERE state = ?1", params![done], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((cum, sum, count as u64))
    }

    /// (queued, running) job counts.
    pub fn counts(&self) -> Result<(u32, u32)> {
        let db = self.db();
        let c = |s: JobState| -> Result<u32> { Ok(db.query_row("SELECT COUNT(*) FROM jobs WHERE state = ?1", params![s as i32], |r| r.get(0))?) };
        Ok((c(JobState::Queued)?, c(JobState::Running)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh store in a scratch directory, with model `m` and the given queued jobs.
    fn store_with_jobs(name: &str, jobs: &[&str]) -> (PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("zkinfer-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let st = Store::open(&dir).expect("open");
        st.add_model("m", "m").expect("model");
        for j in jobs {
            assert!(st.add_job(j, "m", 10).expect("job"));
        }
        (dir, st)
    }

    #[test]
    fn a_job_interrupted_too_often_is_failed_not_retried() {
        let (dir, st) = store_with_jobs("attempts", &["j"]);
        drop(st);
        for attempt in 1..=MAX_ATTEMPTS {
            // started, then the server dies: reopening queues it again until the limit
            let st = Store::open(&dir).expect("reopen");
            let j = st.take_next().expect("take").expect("queued job");
            assert_eq!(j.attempts, attempt);
            drop(st);
            let st = Store::open(&dir).expect("reopen");
            let j = st.job("j").expect("row").expect("job");
            if attempt < MAX_ATTEMPTS {
                assert_eq!(j.state, JobState::Queued as i32, "attempt {attempt}");
            } else {
                assert_eq!(j.state, JobState::Failed as i32);
                assert!(j.error.contains("not retried"), "{}", j.error);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn finished_jobs_past_retention_are_purged_with_their_files() {
        let (dir, st) = store_with_jobs("purge", &["old", "running", "fresh"]);
        for j in ["old", "running", "fresh"] {
            std::fs::create_dir_all(st.job_dir(j)).expect("dir");
            std::fs::write(st.job_dir(j).join("proof.json"), "{}").expect("file");
        }
        assert_eq!(st.take_next().expect("take").expect("a job").id, "old");
        st.finish("old", JobState::Done, "", 1.0).expect("finish");
        let taken = st.take_next().expect("take").expect("a job");
        // "old" is done, the next one runs, the last is queued; nothing ended before now - 1 h
        assert_eq!(st.purge_finished(now() - 3600).expect("purge"), 0);
        assert_eq!(st.purge_finished(now() + 1).expect("purge"), 1, "only the finished job goes");
        assert!(st.job("old").expect("row").is_none() && !st.job_dir("old").exists());
        assert!(st.job(&taken.id).expect("row").is_some() && st.job_dir(&taken.id).exists(), "a running job stays");
        assert!(st.job("fresh").expect("row").is_some(), "a queued job stays");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
