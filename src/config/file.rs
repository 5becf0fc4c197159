//! The properties file: where it is (`--config`, else `org.killbill.server.properties` from
//! the environment, else `config/ferrobill.properties` if present), reading it (UTF-8, else
//! ISO-8859-1 as Java does), and Java's `Properties.load` syntax.
//!
//! The one file ferrobill reads lives here, and nothing else: this file turns the text into
//! settings keyed by known names, reporting unknown, repeated and misplaced keys as warnings.
//! It never parses a value (a bad value is found later, with its file and line as origin)
//! and never writes.

use std::path::{Path, PathBuf};

use super::environment::loose_match;
use super::kinds::{Kind, TEXT};
use super::layers::{invalid_value, Entry, Settings, Source};
use super::legacy::known_name;
use super::table::SERVER_PROPERTIES;
use super::ConfigError;

/// Where the properties file is and why: a file named explicitly must exist.
pub(super) struct FileLocation {
    pub(super) path: PathBuf,
    pub(super) origin: Source,
    required: bool,
}

pub(super) fn locate_file(
    explicit_file: Option<&Path>,
    env_settings: &Settings,
    default_location: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Option<FileLocation>, ConfigError> {
    if let Some(path) = explicit_file {
        if let Some(entry) = env_settings.get(SERVER_PROPERTIES) {
            warnings.push(format!(
                "{SERVER_PROPERTIES} ({}) ignored: --config names the file",
                entry.source
            ));
        }
        return Ok(Some(FileLocation {
            path: path.to_owned(),
            origin: Source::CommandLine,
            required: true,
        }));
    }
    if let Some(entry) = env_settings.get(SERVER_PROPERTIES) {
        let value = entry.value.trim();
        if !value.is_empty() {
            let Some(path) = path_from_location(value) else {
                return Err(invalid_value(
                    SERVER_PROPERTIES,
                    TEXT.quote(&entry.value),
                    &entry.source,
                    "a file path or a file:// URI".to_owned(),
                ));
            };
            return Ok(Some(FileLocation {
                path,
                origin: entry.source.clone(),
                required: true,
            }));
        }
    }
    Ok(default_location.map(|path| FileLocation {
        path: path.to_owned(),
        origin: Source::Default,
        required: false,
    }))
}

/// Kill Bill takes a URI (`file:///var/lib/killbill/killbill.properties`); a plain path is
/// accepted too. Other schemes (http, classpath) are not ours to fetch.
fn path_from_location(location: &str) -> Option<PathBuf> {
    if let Some(rest) = location.strip_prefix("file://") {
        let path = if rest.starts_with('/') {
            rest
        } else {
            rest.strip_prefix("localhost")
                .filter(|p| p.starts_with('/'))?
        };
        return Some(PathBuf::from(percent_decode(path)));
    }
    if let Some(rest) = location.strip_prefix("file:") {
        return Some(PathBuf::from(percent_decode(rest)));
    }
    if location.contains("://") {
        return None;
    }
    Some(PathBuf::from(location))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

pub(super) fn read_file(location: &FileLocation) -> Result<Option<String>, ConfigError> {
    match std::fs::read(&location.path) {
        Ok(bytes) => Ok(Some(decode_file(bytes))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !location.required => {
            Ok(None)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(ConfigError::FileNotFound {
                path: location.path.clone(),
                origin: location.origin.to_string(),
            })
        }
        Err(source) => Err(ConfigError::FileUnreadable {
            path: location.path.clone(),
            source,
        }),
    }
}

/// Java reads properties files as ISO-8859-1; files written today are UTF-8, so UTF-8 is
/// tried first and Latin-1 is the fallback (every byte is a valid Latin-1 character).
fn decode_file(bytes: Vec<u8>) -> String {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => error.into_bytes().iter().map(|&b| char::from(b)).collect(),
    };
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

pub(super) fn file_settings(
    text: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<Settings, ConfigError> {
    let lines = parse_properties(text).map_err(|(line, message)| ConfigError::FileSyntax {
        path: path.to_owned(),
        line,
        message,
    })?;
    let mut settings = Settings::new();
    for PropertyLine { key, value, line } in lines {
        let where_ = format!("{} line {line}", path.display());
        match known_name(&key) {
            Some(SERVER_PROPERTIES) => warnings.push(format!(
                "{SERVER_PROPERTIES} in {where_} has no effect inside a properties file; ignored"
            )),
            Some(name) => {
                let source = Source::File {
                    path: path.to_owned(),
                    line,
                };
                if let Some(previous) = settings.insert(name, Entry { value, source }) {
                    warnings.push(format!(
                        "{name} is set twice, {} and line {line}; the later one wins",
                        previous.source
                    ));
                }
            }
            None => {
                let hint = loose_match(&key)
                    .map(|known| format!("; did you mean {known}?"))
                    .unwrap_or_default();
                warnings.push(format!("unknown property {key} in {where_}; ignored{hint}"));
            }
        }
    }
    Ok(settings)
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct PropertyLine {
    pub(super) key: String,
    pub(super) value: String,
    /// Where the logical line starts (1-based).
    pub(super) line: usize,
}

/// Java `Properties.load` syntax. Errors carry the line number.
pub(super) fn parse_properties(text: &str) -> Result<Vec<PropertyLine>, (usize, String)> {
    let natural = natural_lines(text);
    let mut parsed = Vec::new();
    let mut index = 0;
    while index < natural.len() {
        let line = index + 1;
        let first = skip_blanks(natural[index]);
        index += 1;
        // A comment never continues onto the next line, even if it ends in a backslash.
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_owned();
        while ends_in_continuation(&logical) {
            logical.pop();
            let Some(next) = natural.get(index) else {
                break;
            };
            logical.push_str(skip_blanks(next));
            index += 1;
        }
        let (key, value) = split_key_value(&logical);
        parsed.push(PropertyLine {
            key: unescape(key).map_err(|message| (line, message))?,
            value: unescape(value).map_err(|message| (line, message))?,
            line,
        });
    }
    Ok(parsed)
}

fn natural_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\n' => {
                lines.push(&text[start..index]);
                index += 1;
                start = index;
            }
            b'\r' => {
                lines.push(&text[start..index]);
                index += if bytes.get(index + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = index;
            }
            _ => index += 1,
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

fn skip_blanks(text: &str) -> &str {
    text.trim_start_matches(is_blank)
}

/// An odd number of trailing backslashes: the last one is not itself escaped.
fn ends_in_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// The key ends at the first unescaped `=`, `:` or blank; blanks around a single `=`/`:`
/// separator are skipped; the value keeps its trailing blanks, as in Java.
fn split_key_value(logical: &str) -> (&str, &str) {
    let mut escaped = false;
    for (index, c) in logical.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if c == '=' || c == ':' || is_blank(c) {
            let key = &logical[..index];
            let mut rest = skip_blanks(&logical[index + c.len_utf8()..]);
            if is_blank(c) {
                if let Some(after) = rest.strip_prefix(['=', ':']) {
                    rest = skip_blanks(after);
                }
            }
            return (key, rest);
        }
    }
    (logical, "")
}

/// Java escapes: `\t \n \r \f \uXXXX`, and a backslash before any other character stands for
/// that character (`\\ \= \: \# \!` and `\ `).
fn unescape(text: &str) -> Result<String, String> {
    // Java strings are UTF-16, so a `\uD83D\uDE00` pair makes one character.
    let mut units: Vec<u16> = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    let mut buffer = [0u16; 2];
    while let Some(c) = chars.next() {
        let decoded = if c == '\\' {
            match chars.next() {
                None => continue,
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                Some('f') => '\x0c',
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let valid = hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit());
                    let unit = u16::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| valid)
                        .ok_or_else(|| format!("malformed \\uXXXX escape \"\\u{hex}\""))?;
                    units.push(unit);
                    continue;
                }
                Some(other) => other,
            }
        } else {
            c
        };
        units.extend_from_slice(decoded.encode_utf16(&mut buffer));
    }
    Ok(String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::layers::load_layers;
    use crate::config::test_support::{
        assert_warns, effective, env, env_error, load_error, loaded, TempFile,
    };

    #[test]
    fn explicit_file_must_exist() {
        let missing = std::env::temp_dir().join("ferrobill-config-test-missing.properties");
        let message = load_error(&missing);
        assert_eq!(
            message,
            format!(
                "configuration file {} does not exist (named by the --config option)",
                missing.display()
            )
        );
    }

    #[test]
    fn environment_can_name_the_file_as_path_or_uri() {
        let file = TempFile::new(b"org.killbill.dao.maxActive=77\n");
        let uri = format!("file://{}", file.0.display());
        let path = file.0.display().to_string();
        for (var, value) in [
            ("KB_org_killbill_server_properties", uri.as_str()),
            ("KILLBILL_SERVER_PROPERTIES", path.as_str()),
        ] {
            let l = loaded(&[(var, value)]);
            assert_eq!(l.config.main_pool.max_active, 77, "{var}");
            assert_eq!(l.file.as_deref(), Some(file.0.as_path()));
            assert_eq!(
                effective(&l.config, SERVER_PROPERTIES),
                file.0.display().to_string()
            );
        }
        let message = env_error(&[(
            "KB_org_killbill_server_properties",
            "file:///nonexistent/ferrobill-killbill.properties",
        )]);
        assert_eq!(
            message,
            "configuration file /nonexistent/ferrobill-killbill.properties does not exist \
             (named by environment variable KB_org_killbill_server_properties)"
        );
        let message = env_error(&[(
            "KB_org_killbill_server_properties",
            "http://x/kb.properties",
        )]);
        assert!(
            message.ends_with("expected a file path or a file:// URI"),
            "{message}"
        );
    }

    #[test]
    fn explicit_file_beats_the_environment_location() {
        let explicit = TempFile::new(b"org.killbill.dao.maxActive=11\n");
        let named = TempFile::new(b"org.killbill.dao.maxActive=22\n");
        let l = load_layers(
            Some(&explicit.0),
            &env(&[(
                "KILLBILL_SERVER_PROPERTIES",
                named.0.display().to_string().as_str(),
            )]),
            None,
        )
        .expect("loads");
        assert_eq!(l.config.main_pool.max_active, 11);
        assert_warns(&l, &["ignored: --config names the file"]);
    }

    #[test]
    fn default_location_is_optional() {
        let file = TempFile::new(b"org.killbill.dao.maxActive=33\n");
        let l = load_layers(None, &[], Some(&file.0)).expect("loads");
        assert_eq!(l.config.main_pool.max_active, 33);
        assert_eq!(l.file.as_deref(), Some(file.0.as_path()));
        let missing = std::env::temp_dir().join("ferrobill-config-test-absent.properties");
        let l = load_layers(None, &[], Some(&missing)).expect("loads");
        assert_eq!(l.file, None);
        assert_eq!(effective(&l.config, SERVER_PROPERTIES), "");
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let dir = std::env::temp_dir();
        let message = load_error(&dir);
        assert!(
            message.starts_with("cannot read configuration file"),
            "{message}"
        );
    }

    #[test]
    fn file_warnings_for_unknown_repeated_and_misplaced_keys() {
        let file = TempFile::new(
            b"org.killbill.catalog.uri=x\norg.killbill.dao.maxactive=5\n\
              org.killbill.dao.minIdle=2\norg.killbill.dao.minIdle=3\n\
              org.killbill.server.properties=/elsewhere\n",
        );
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.main_pool.min_idle, 3);
        assert_warns(
            &l,
            &[
                "unknown property org.killbill.catalog.uri",
                "did you mean org.killbill.dao.maxActive?",
                "org.killbill.dao.minIdle is set twice",
                "has no effect inside a properties file",
            ],
        );
        assert_eq!(l.warnings.len(), 4, "{:?}", l.warnings);
    }

    #[test]
    fn latin1_and_bom_files_are_read() {
        let file = TempFile::new(b"\xef\xbb\xbforg.killbill.dao.user=kb\n");
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.main_pool.user, "kb");
        let file = TempFile::new(b"org.killbill.dao.user=caf\xe9\n");
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.main_pool.user, "caf\u{e9}");
    }

    #[test]
    fn file_errors_name_the_file_and_line() {
        for (contents, expected) in [
            (
                &b"a=1\n\nb=\\u12\n"[..],
                "syntax error in configuration file {file} line 3: malformed \\uXXXX escape \"\\u12\"",
            ),
            (
                &b"# comment\n\norg.killbill.dao.minIdle = many\n"[..],
                "invalid value \"many\" for org.killbill.dao.minIdle (from file {file} line 3): expected a non-negative integer",
            ),
        ] {
            let file = TempFile::new(contents);
            let file_name = file.0.display().to_string();
            assert_eq!(load_error(&file.0), expected.replace("{file}", &file_name));
        }
    }

    #[test]
    fn trailing_whitespace_in_file_values_is_ignored_except_for_secrets() {
        let file =
            TempFile::new(b"org.killbill.dao.maxActive=50   \norg.killbill.dao.password=pw  \n");
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.main_pool.max_active, 50);
        assert_eq!(l.config.main_pool.password, "pw  ");
    }

    fn parsed(text: &str) -> Vec<(String, String, usize)> {
        parse_properties(text)
            .expect("parses")
            .into_iter()
            .map(|line| (line.key, line.value, line.line))
            .collect()
    }

    fn kv(key: &str, value: &str, line: usize) -> (String, String, usize) {
        (key.to_owned(), value.to_owned(), line)
    }

    #[test]
    fn parser_separators() {
        assert_eq!(
            parsed("a=1\nb: 2\nc 3\nd = 4\ne   :   5\nf\ng=\nh\t=\tx\n"),
            vec![
                kv("a", "1", 1),
                kv("b", "2", 2),
                kv("c", "3", 3),
                kv("d", "4", 4),
                kv("e", "5", 5),
                kv("f", "", 6),
                kv("g", "", 7),
                kv("h", "x", 8),
            ]
        );
        assert_eq!(parsed("a==b\n"), vec![kv("a", "=b", 1)]);
        assert_eq!(parsed("a b c\n"), vec![kv("a", "b c", 1)]);
        assert_eq!(
            parsed("url=jdbc:postgresql://h/db\n"),
            vec![kv("url", "jdbc:postgresql://h/db", 1)]
        );
    }

    #[test]
    fn parser_comments_blanks_and_leading_whitespace() {
        assert_eq!(
            parsed("# comment\n! bang\n\n   \n   key=value\n\t# indented comment\n"),
            vec![kv("key", "value", 5)]
        );
        assert_eq!(
            parsed("a=1 # not a comment\n"),
            vec![kv("a", "1 # not a comment", 1)]
        );
    }

    #[test]
    fn parser_continuations() {
        assert_eq!(
            parsed("list=a,\\\n    b,\\\n    c\nnext=1\n"),
            vec![kv("list", "a,b,c", 1), kv("next", "1", 4)]
        );
        assert_eq!(parsed("# comment \\\nkey=v\n"), vec![kv("key", "v", 2)]);
        assert_eq!(
            parsed("path=C:\\\\\nk=v\n"),
            vec![kv("path", "C:\\", 1), kv("k", "v", 2)]
        );
        assert_eq!(parsed("last=x\\"), vec![kv("last", "x", 1)]);
        assert_eq!(parsed("k=\\\n  # kept\n"), vec![kv("k", "# kept", 1)]);
    }

    #[test]
    fn parser_escapes() {
        assert_eq!(
            parsed("a\\=b\\:c\\ d=x\\ty\\nz\\\\w\\=\\:\\u0041\\u00e9\\q\n"),
            vec![kv("a=b:c d", "x\ty\nz\\w=:A\u{e9}q", 1)]
        );
        assert_eq!(parsed("k=\\uD83D\\uDE00\n"), vec![kv("k", "\u{1F600}", 1)]);
        assert_eq!(parsed("\\#notcomment=1\n"), vec![kv("#notcomment", "1", 1)]);
        assert!(parse_properties("k=\\u00zz\n").is_err());
        assert!(parse_properties("k=\\u+041\n").is_err());
    }

    #[test]
    fn parser_line_endings_and_trailing_whitespace() {
        assert_eq!(
            parsed("a=1\r\nb=2\rc=3\nd=4   "),
            vec![
                kv("a", "1", 1),
                kv("b", "2", 2),
                kv("c", "3", 3),
                kv("d", "4   ", 4)
            ]
        );
    }

    #[test]
    fn file_location_forms() {
        for (location, path) in [
            ("/etc/kb.properties", "/etc/kb.properties"),
            ("file:///etc/kb.properties", "/etc/kb.properties"),
            ("file://localhost/etc/kb.properties", "/etc/kb.properties"),
            ("file:/etc/kb.properties", "/etc/kb.properties"),
            ("file:///my%20dir/kb.properties", "/my dir/kb.properties"),
            ("relative/kb.properties", "relative/kb.properties"),
        ] {
            assert_eq!(
                path_from_location(location),
                Some(PathBuf::from(path)),
                "{location}"
            );
        }
        assert_eq!(path_from_location("file://otherhost/kb.properties"), None);
        assert_eq!(path_from_location("classpath://kb.properties"), None);
    }
}
