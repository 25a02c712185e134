//! The on-disk cache of compiled plugins.
//!
//! Compiling a component with Cranelift takes from milliseconds to seconds; loading the
//! compiled artifact takes microseconds to milliseconds. Artifacts are keyed by the SHA-256
//! of the plugin's bytes and the engine's compatibility hash. Deserializing is only sound for
//! artifacts this host produced, so each file starts with the SHA-256 of its body: a file
//! that was truncated, corrupted or written by anyone else fails the check and is compiled
//! afresh instead of loaded.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiled plugins in one directory, for one engine's settings.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// Distinguishes artifacts of engines with different settings or versions.
    engine_key: String,
}

impl ArtifactCache {
    /// A cache in `dir` for artifacts of `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ArtifactCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The cached component for these bytes, if a sound artifact is on disk.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let file = std::fs::read(self.path(sha256)).ok()?;
        let (checksum, body) = file.split_at_checked(32)?;
        if Sha256::digest(body).as_slice() != checksum {
            return None;
        }
        // SAFETY: the body was produced by `Engine::precompile_component` in `store` below
        // (its checksum matches what we wrote), and wasmtime checks engine compatibility.
        unsafe { Component::deserialize(engine, body) }.ok()
    }

    /// Compiles the bytes and stores the artifact; a failure to store is not an error.
    pub fn compile(
        &self,
        engine: &Engine,
        sha256: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<Component> {
        let artifact = engine.precompile_component(wasm)?;
        let _ = self.store(sha256, &artifact);
        // SAFETY: the artifact was produced by this engine a moment ago.
        unsafe { Component::deserialize(engine, &artifact) }
    }

    fn store(&self, sha256: &str, artifact: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut file = Vec::with_capacity(32 + artifact.len());
        file.extend_from_slice(&Sha256::digest(artifact));
        file.extend_from_slice(artifact);
        write_atomically(&self.path(sha256), &file)
    }
}

/// Writes under a temporary name in the same directory, syncs, then renames over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
