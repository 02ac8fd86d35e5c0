//! The topic registry: which topics exist, their configuration and their
//! partitions. Persisted as `topics/<topic>/topic.toml` (partition count and
//! config overrides) beside the partition directories, and reloaded at start.
//!
//! Deleting a topic first renames its directory to
//! `<topic>.deleted-<millis>` (atomic), then removes it; a crash in between
//! leaves only that renamed directory, which the next start removes.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use runnel_config::{
    ConfigError, TimestampType, TopicConfig, TopicManifest, TopicOverrides, validate_topic_name,
};

use crate::partition::Partition;
use crate::storage::{Fs, LogConfig, PartitionLog, RecoveryReport, StorageError};

/// Name of a topic's manifest file.
const MANIFEST_FILE: &str = "topic.toml";
/// Marks a topic directory whose deletion was interrupted.
const DELETED_MARK: &str = ".deleted-";
/// Most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 100_000;

/// Why a topic operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// The name breaks the naming rule.
    #[error(transparent)]
    InvalidName(ConfigError),
    /// A topic of that name exists.
    #[error("topic {0:?} already exists")]
    AlreadyExists(String),
    /// No topic of that name.
    #[error("unknown topic {0:?}")]
    Unknown(String),
    /// The partition count is out of range.
    #[error("invalid partition count {0}: expected 1 to {MAX_PARTITIONS}")]
    InvalidPartitions(u32),
    /// A config key or value is invalid.
    #[error(transparent)]
    InvalidConfig(ConfigError),
    /// The storage engine failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A topic and its partitions.
#[derive(Debug)]
pub struct Topic {
    /// The topic name.
    name: Arc<str>,
    /// Its directory.
    dir: PathBuf,
    /// Keys set for this topic; everything else follows the broker's
    /// `topic_defaults`.
    overrides: Mutex<TopicOverrides>,
    /// The effective config (defaults + overrides).
    config: RwLock<TopicConfig>,
    /// Partitions by number.
    partitions: Vec<Arc<Partition>>,
}

impl Topic {
    /// The topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The effective config.
    pub fn config(&self) -> TopicConfig {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The keys this topic overrides.
    pub fn overrides(&self) -> TopicOverrides {
        self.overrides
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The partitions, by number.
    pub fn partitions(&self) -> &[Arc<Partition>] {
        &self.partitions
    }

    /// Partition `id`, if it exists.
    pub fn partition(&self, id: u32) -> Option<&Arc<Partition>> {
        self.partitions.get(id as usize)
    }
}

/// The storage settings a topic config implies: (log config, whether
/// timestamps are log-append time, flush interval).
pub fn log_settings(config: &TopicConfig) -> (LogConfig, bool, Option<u64>) {
    let log = LogConfig {
        segment_bytes: u64::from(config.segment_bytes),
        segment_ms: config.segment_ms,
        retention_ms: config
            .retention_ms
            .filter(|_| config.cleanup_policy.deletes()),
        retention_bytes: config
            .retention_bytes
            .filter(|_| config.cleanup_policy.deletes()),
        index_interval_bytes: config.index_interval_bytes,
        max_batch_bytes: config.max_message_bytes,
        ..LogConfig::default()
    };
    (
        log,
        config.message_timestamp_type == TimestampType::LogAppendTime,
        config.flush_ms,
    )
}

/// All topics of a data directory.
#[derive(Debug)]
pub struct TopicRegistry {
    /// `<data_dir>/topics`.
    root: PathBuf,
    /// The broker's `topic_defaults`.
    defaults: TopicConfig,
    /// Partition file I/O.
    fs: Arc<dyn Fs>,
    /// Topics by name. Creation and deletion take the write lock; requests
    /// clone the `Arc<Topic>` under the read lock and release it.
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises create, delete and alter so manifests and directories
    /// change one operation at a time.
    admin: Mutex<()>,
}

/// What loading the registry found.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Topics loaded.
    pub topics: usize,
    /// Partitions opened.
    pub partitions: usize,
    /// Partitions whose tail had to be validated after a crash.
    pub recovered_partitions: usize,
    /// Bytes cut from torn tails.
    pub truncated_bytes: u64,
}

impl TopicRegistry {
    /// Loads every topic under `<data_dir>/topics`. `clean` says whether the
    /// last run shut down cleanly (no recovery scan needed).
    pub fn load(
        data_dir: &Path,
        defaults: TopicConfig,
        fs: Arc<dyn Fs>,
        clean: bool,
        now_ms: i64,
    ) -> Result<(TopicRegistry, LoadReport), TopicError> {
        let root = data_dir.join("topics");
        fs::create_dir_all(&root).map_err(|e| StorageError::io(&root, e))?;
        let mut topics = HashMap::new();
        let mut report = LoadReport::default();
        let entries = fs::read_dir(&root).map_err(|e| StorageError::io(&root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io(&root, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let path = entry.path();
            if name.contains(DELETED_MARK) {
                tracing::info!(dir = %path.display(), "finishing an interrupted topic deletion");
                fs::remove_dir_all(&path).map_err(|e| StorageError::io(&path, e))?;
                continue;
            }
            if validate_topic_name(&name).is_err() || !path.join(MANIFEST_FILE).exists() {
                tracing::warn!(dir = %path.display(), "ignoring a directory that is not a topic");
                continue;
            }
            let manifest_path = path.join(MANIFEST_FILE);
            let text = fs::read_to_string(&manifest_path)
                .map_err(|e| StorageError::io(&manifest_path, e))?;
            let manifest =
                TopicManifest::from_toml_str(&text).map_err(|e| StorageError::Corrupt {
                    path: manifest_path.clone(),
                    position: 0,
                    reason: format!("{e:#}"),
                })?;
            let config = manifest.config(&defaults);
            let (partitions, reports) = open_partitions(
                &fs,
                &name,
                &path,
                manifest.partitions,
                &config,
                clean,
                now_ms,
            )?;
            report.topics += 1;
            report.partitions += partitions.len();
            for r in reports {
                if r.recovered_segments > 0 {
                    report.recovered_partitions += 1;
                }
                report.truncated_bytes += r.truncated_bytes;
            }
            topics.insert(
                name.clone(),
                Arc::new(Topic {
                    name: name.into(),
                    dir: path,
                    overrides: Mutex::new(manifest.overrides),
                    config: RwLock::new(config),
                    partitions,
                }),
            );
        }
        Ok((
            TopicRegistry {
                root,
                defaults,
                fs,
                topics: RwLock::new(topics),
                admin: Mutex::new(()),
            },
            report,
        ))
    }

    /// The broker's default topic config.
    pub fn defaults(&self) -> &TopicConfig {
        &self.defaults
    }

    /// The topic called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().get(name).cloned()
    }

    /// Every topic, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self.read().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn admin(&self) -> std::sync::MutexGuard<'_, ()> {
        self.admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a topic creation and returns the effective config.
    pub fn check_create(
        &self,
        name: &str,
        partitions: u32,
        configs: &[(String, String)],
    ) -> Result<(TopicConfig, TopicOverrides), TopicError> {
        validate_topic_name(name).map_err(TopicError::InvalidName)?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(partitions));
        }
        let overrides =
            TopicOverrides::from_pairs(configs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(TopicError::InvalidConfig)?;
        let config = overrides.apply_to(&self.defaults);
        config.validate().map_err(TopicError::InvalidConfig)?;
        if self.read().contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_owned()));
        }
        Ok((config, overrides))
    }

    /// Creates a topic with `partitions` partitions and config overrides.
    pub fn create(
        &self,
        name: &str,
        partitions: u32,
        configs: &[(String, String)],
        now_ms: i64,
    ) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.admin();
        let (config, overrides) = self.check_create(name, partitions, configs)?;
        let dir = self.root.join(name);
        let manifest =
            TopicManifest::new(partitions, overrides.clone()).map_err(TopicError::InvalidConfig)?;
        let text = manifest
            .to_toml_string()
            .map_err(TopicError::InvalidConfig)?;
        // A leftover directory without a manifest (a crash mid-create) is
        // replaced.
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let (parts, _) = open_partitions(&self.fs, name, &dir, partitions, &config, true, now_ms)?;
        // The manifest last: a topic exists once its manifest is durable.
        self.fs
            .write_file_atomic(&dir.join(MANIFEST_FILE), text.as_bytes())
            .map_err(|e| StorageError::io(dir.join(MANIFEST_FILE), e))?;
        self.fs
            .sync_dir(&self.root)
            .map_err(|e| StorageError::io(&self.root, e))?;
        let topic = Arc::new(Topic {
            name: name.into(),
            dir,
            overrides: Mutex::new(overrides),
            config: RwLock::new(config),
            partitions: parts,
        });
        self.topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), Arc::clone(&topic));
        tracing::info!(topic = name, partitions, "topic created");
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub fn delete(&self, name: &str, now_ms: i64) -> Result<(), TopicError> {
        let _admin = self.admin();
        let topic = self
            .topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        let doomed = self.root.join(format!("{name}{DELETED_MARK}{now_ms}"));
        fs::rename(&topic.dir, &doomed).map_err(|e| StorageError::io(&topic.dir, e))?;
        self.fs
            .sync_dir(&self.root)
            .map_err(|e| StorageError::io(&self.root, e))?;
        // In-flight reads keep their maps; the files go now.
        fs::remove_dir_all(&doomed).map_err(|e| StorageError::io(&doomed, e))?;
        tracing::info!(topic = name, "topic deleted");
        Ok(())
    }

    /// Applies config changes: `Some(value)` sets a key, `None` resets it to
    /// the broker default. With `validate_only`, nothing changes.
    pub fn alter(
        &self,
        name: &str,
        changes: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _admin = self.admin();
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        let mut overrides = topic.overrides();
        for (key, value) in changes {
            match value {
                Some(v) => overrides.set(key, v),
                None => overrides.remove(key).map(|_| ()),
            }
            .map_err(TopicError::InvalidConfig)?;
        }
        let config = overrides.apply_to(&self.defaults);
        config.validate().map_err(TopicError::InvalidConfig)?;
        if validate_only {
            return Ok(());
        }
        let manifest = TopicManifest::new(
            u32::try_from(topic.partitions.len()).unwrap_or(u32::MAX),
            overrides.clone(),
        )
        .map_err(TopicError::InvalidConfig)?;
        let text = manifest
            .to_toml_string()
            .map_err(TopicError::InvalidConfig)?;
        let path = topic.dir.join(MANIFEST_FILE);
        self.fs
            .write_file_atomic(&path, text.as_bytes())
            .map_err(|e| StorageError::io(&path, e))?;
        let (log, append_time, flush_ms) = log_settings(&config);
        for p in &topic.partitions {
            p.reconfigure(log.clone(), append_time, flush_ms);
        }
        *topic
            .overrides
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = overrides;
        *topic
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        tracing::info!(topic = name, "topic config altered");
        Ok(())
    }

    /// Runs retention on every partition; returns segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> usize {
        let mut deleted = 0;
        for topic in self.list() {
            for p in topic.partitions() {
                match p.enforce_retention(now_ms) {
                    Ok(n) => deleted += n,
                    Err(e) => {
                        tracing::error!(topic = topic.name(), partition = p.id(), error = %e, "retention failed");
                    }
                }
            }
        }
        deleted
    }

    /// Closes every partition log cleanly. Returns the first error, after
    /// trying them all.
    pub fn close_all(&self) -> Result<(), StorageError> {
        let mut first = None;
        for topic in self.list() {
            for p in topic.partitions() {
                if let Err(e) = p.close() {
                    tracing::error!(topic = topic.name(), partition = p.id(), error = %e, "closing partition failed");
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn open_partitions(
    fs: &Arc<dyn Fs>,
    name: &str,
    dir: &Path,
    count: u32,
    config: &TopicConfig,
    clean: bool,
    now_ms: i64,
) -> Result<(Vec<Arc<Partition>>, Vec<RecoveryReport>), TopicError> {
    let (log_config, append_time, flush_ms) = log_settings(config);
    let topic: Arc<str> = name.into();
    let mut parts = Vec::with_capacity(count as usize);
    let mut reports = Vec::with_capacity(count as usize);
    for id in 0..count {
        let pdir = dir.join(id.to_string());
        let (log, report) = PartitionLog::open(
            Arc::clone(fs),
            &pdir,
            log_config.clone(),
            append_time,
            clean,
            now_ms,
        )?;
        if report.recovered_segments > 0 {
            tracing::info!(
                topic = name,
                partition = id,
                recovered_segments = report.recovered_segments,
                truncated_bytes = report.truncated_bytes,
                "partition recovered"
            );
        }
        reports.push(report);
        parts.push(Partition::new(Arc::clone(&topic), id, log, flush_ms));
    }
    Ok((parts, reports))
}
