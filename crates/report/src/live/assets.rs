//! The dashboard's files, compiled into the binary: nothing is read from disk or fetched from a CDN to serve the page
//! (ECharts is vendored from the npm registry, `assets/dashboard/vendor/README.md`). `sweep report` copies the same
//! files beside its `dashboard.html`.

/// One file of the dashboard.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $path:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../../assets/dashboard/", $path)),
        }
    };
}

/// Every file served under `/assets/`, by name (the page's own and the vendored chart library with its licence).
pub const ASSETS: [Asset; 7] = [
    asset!("index.html", "index.html", "text/html; charset=utf-8"),
    asset!("app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "style.css", "text/css; charset=utf-8"),
    asset!("echarts.min.js", "vendor/echarts.min.js", "text/javascript; charset=utf-8"),
    asset!("LICENSE-echarts", "vendor/LICENSE-echarts", "text/plain; charset=utf-8"),
    asset!("NOTICE-echarts", "vendor/NOTICE-echarts", "text/plain; charset=utf-8"),
    asset!("LICENSE-d3", "vendor/LICENSE-d3", "text/plain; charset=utf-8"),
];

/// The asset called `name`, if there is one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// A strong validator of an asset's bytes (they only change with the binary).
pub fn etag(a: &Asset) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(a.bytes);
    format!("\"{}\"", sweep_params::text::hex(&d[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_there_and_the_page_loads_only_local_files() {
        for a in &ASSETS {
            assert!(!a.bytes.is_empty(), "{} is empty", a.name);
        }
        let page = std::str::from_utf8(asset("index.html").unwrap().bytes).unwrap();
        for src in ["assets/echarts.min.js", "assets/app.js", "assets/style.css"] {
            assert!(page.contains(src), "index.html loads {src}");
        }
        assert!(!page.contains("://"), "index.html loads nothing from elsewhere");
        assert!(std::str::from_utf8(asset("LICENSE-echarts").unwrap().bytes)
            .unwrap()
            .contains("Apache License"));
        assert_ne!(etag(&ASSETS[0]), etag(&ASSETS[1]));
    }
}
