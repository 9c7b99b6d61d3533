//! The README as a script: its ```sh blocks, in order, in one bash, against `imgforge serve`
//! over a new store, from a directory laid out like a fresh clone after `make run` (the binary at
//! target/release/imgforge, docs/ beside it, the server's store at .data). The address
//! http://127.0.0.1:3000 is replaced by the test server's. A block whose first line starts with
//! `# Not run by tests/readme.rs:` is skipped (it says why, in the README itself); every other
//! block must run without error, and a line ending in `#=> TEXT` must print TEXT.

mod support;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use support::Server;

const SKIP_MARKER: &str = "# Not run by tests/readme.rs:";
const DOCUMENTED_ADDRESS: &str = "http://127.0.0.1:3000";

/// A ```sh block of the README: the line it starts on, and its text.
struct Block {
    line: usize,
    text: String,
}

fn shell_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (index, line) in readme.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == "```sh" => {
                current = Some(Block {
                    line: index + 1,
                    text: String::new(),
                })
            }
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unclosed ```sh block");
    blocks
}

/// The script for one block: each `CMD #=> TEXT` command (which may continue over lines ending
/// in `\`) checks that CMD printed TEXT.
fn script_of(block: &Block) -> String {
    let mut script = format!("echo '--- README line {}' >&2\n", block.line);
    let mut command = String::new();
    for (offset, line) in block.text.lines().enumerate() {
        if let Some(continued) = line.strip_suffix('\\') {
            command.push_str(continued);
            command.push_str("\\\n");
            continue;
        }
        let Some((last, expected)) = line.rsplit_once("#=>") else {
            script.push_str(&command);
            script.push_str(line);
            script.push('\n');
            command.clear();
            continue;
        };
        command.push_str(last.trim_end());
        let (expected, at) = (expected.trim(), block.line + 1 + offset);
        script.push_str(&format!(
            "out=$({command})\nprintf '%s\\n' \"$out\"\n\
             case \"$out\" in *{expected:?}*) ;; \
             *) printf 'README line {at}: expected \"%s\" in: %s\\n' {expected:?} \"$out\" >&2; \
             exit 1;; esac\n"
        ));
        command.clear();
    }
    script
}

#[test]
fn the_readme_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = shell_blocks(&readme);
    let (run, skipped): (Vec<_>, Vec<_>) = blocks
        .iter()
        .partition(|block| !block.text.starts_with(SKIP_MARKER));
    assert!(
        run.len() >= 5,
        "the walk-through is in ```sh blocks ({} found)",
        run.len()
    );
    assert!(
        !skipped.is_empty(),
        "the AWS blocks are marked, not left out"
    );

    let server = Server::start();
    let clone = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(clone.path().join("target/release")).unwrap();
    symlink(
        env!("CARGO_BIN_EXE_imgforge"),
        clone.path().join("target/release/imgforge"),
    )
    .unwrap();
    symlink(root.join("docs"), clone.path().join("docs")).unwrap();
    symlink(server.data_dir(), clone.path().join(".data")).unwrap();

    let mut script = String::from("set -euo pipefail\n");
    for block in &run {
        script.push_str(&script_of(block).replace(DOCUMENTED_ADDRESS, &server.base));
    }
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(clone.path())
        .env_remove("IMGFORGE_DATA_DIR")
        .env_remove("IMGFORGE_BACKEND")
        .output()
        .expect("running bash");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "a README block failed (the last `--- README line` below is the block):\n{stderr}\n\
         stdout:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn expectations_are_checked() {
    let block = Block {
        line: 10,
        text: "echo hello   #=> bye\n".to_owned(),
    };
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{}", script_of(&block)))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("README line 11: expected \"bye\""));
}
