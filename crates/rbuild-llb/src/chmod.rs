//! `COPY/ADD --chmod=` values, octal or symbolic, with BuildKit's semantics.
//!
//! BuildKit (Dockerfile 1.14+) validates the value in the frontend and applies
//! it per copied entry with `github.com/tonistiigi/dchapes-mode`, a Go port of
//! BSD `setmode(3)`, parsed with a umask of 0. This module follows that code,
//! quirks included:
//!
//! - Octal values replace all 0o7777 bits, directories included.
//! - Symbolic values start from the source entry's own mode; clauses and the
//!   operators inside a clause apply left to right.
//! - A clause without a who (`+x`, `=r`) affects every class and is not
//!   filtered by any umask; `+s` then sets both setuid and setgid.
//! - `X` adds execute when the entry is a directory or its *original* mode
//!   (before any clause) has an execute bit; `-X` is the same as `-x`.
//! - `=` clears the who's bits (setuid/setgid included, sticky only when the
//!   clause names `t`), so `u=` empties the user class and `=` keeps sticky.
//! - `s` and `t` are ignored when the who is only `o`; `u=g` style copies move
//!   the rwx bits only.

use std::fmt;

const SETUID: u32 = 0o4000;
const SETGID: u32 = 0o2000;
const STICKY: u32 = 0o1000;
const USER: u32 = 0o700;
const GROUP: u32 = 0o070;
const OTHER: u32 = 0o007;
const EXEC: u32 = 0o111;
/// Every bit except sticky: what `a` selects and what a bare `=` clears.
const STANDARD: u32 = SETUID | SETGID | USER | GROUP | OTHER;

const WHO_U: u8 = 1;
const WHO_G: u8 = 2;
const WHO_O: u8 = 4;

const PERM_R: u8 = 1;
const PERM_W: u8 = 2;
const PERM_X: u8 = 4;
const PERM_BIG_X: u8 = 8;
const PERM_S: u8 = 16;
const PERM_T: u8 = 32;
/// Canonical spelling order of a permission run.
const PERM_LETTERS: [(u8, char); 6] =
    [(PERM_R, 'r'), (PERM_W, 'w'), (PERM_X, 'x'), (PERM_BIG_X, 'X'), (PERM_S, 's'), (PERM_T, 't')];

/// A parsed `--chmod` value, kept symbolic so it can be applied per entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chmod {
    /// Absolute mode that replaces every permission and special bit.
    Octal(u32),
    /// Comma-separated clauses applied in order to each entry's own mode.
    Symbolic(Vec<Clause>),
}

/// One comma-separated clause of a symbolic mode, such as `go=rX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    /// `WHO_*` bits; empty means no who was written, which is not the same as `a`.
    who: u8,
    /// Never empty: a clause is a who followed by one or more operators.
    actions: Vec<Action>,
}

/// One operator of a clause with what follows it, such as `+rw` in `u+rw-x`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Action {
    op: Op,
    /// Permission runs never sit next to each other: copies separate them.
    items: Vec<Item>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Assign,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// `PERM_*` bits; order inside a run does not change the result.
    Perms(u8),
    /// Copy another class's current rwx bits (`g=u`).
    Copy(Class),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    User,
    Group,
    Other,
}

impl Class {
    fn shift(self) -> u32 {
        match self {
            Class::User => 6,
            Class::Group => 3,
            Class::Other => 0,
        }
    }

    fn letter(self) -> char {
        match self {
            Class::User => 'u',
            Class::Group => 'g',
            Class::Other => 'o',
        }
    }
}

impl Op {
    fn letter(self) -> char {
        match self {
            Op::Add => '+',
            Op::Remove => '-',
            Op::Assign => '=',
        }
    }
}

impl Chmod {
    /// Checks a `--chmod` value the way BuildKit's frontend does, so bad values fail before building.
    pub fn parse(text: &str) -> Result<Chmod, String> {
        match text.as_bytes().first() {
            None => Err(symbolic_error(text)),
            Some(b) if b.is_ascii_digit() => parse_octal(text).map(Chmod::Octal),
            Some(_) => parse_symbolic(text).map(Chmod::Symbolic),
        }
    }

    /// Computes an entry's new mode, since symbolic values depend on its old mode and kind.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(bits) => bits & 0o7777,
            Chmod::Symbolic(clauses) => {
                let original = mode & 0o7777;
                let mut state = State { mode: original, exec_ok: is_dir || original & EXEC != 0 };
                for clause in clauses {
                    clause.apply(&mut state);
                }
                state.mode & 0o7777
            }
        }
    }
}

fn octal_error(text: &str) -> String {
    format!("invalid --chmod value {text:?}: expected an octal mode between 0 and 7777")
}

fn symbolic_error(text: &str) -> String {
    format!(
        "invalid --chmod value {text:?}: expected an octal mode like 755 or a symbolic one like \
         u=rwX,go=rX"
    )
}

/// BuildKit tries `strconv.ParseUint(v, 8, 32)` first and sends anything else
/// starting with a digit to an octal parser too, so digits mean octal only.
fn parse_octal(text: &str) -> Result<u32, String> {
    let mut value: u32 = 0;
    for b in text.bytes() {
        if !(b'0'..=b'7').contains(&b) {
            return Err(octal_error(text));
        }
        value = value * 8 + u32::from(b - b'0');
        if value > 0o7777 {
            return Err(octal_error(text));
        }
    }
    Ok(value)
}

/// Grammar: `clause(,clause)*`, `clause = [ugoa]* (op [rwxXstugo]*)+`, `op = [+-=]`.
fn parse_symbolic(text: &str) -> Result<Vec<Clause>, String> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut clauses = Vec::new();
    loop {
        let mut who = 0;
        while let Some(b) = bytes.get(pos) {
            who |= match b {
                b'u' => WHO_U,
                b'g' => WHO_G,
                b'o' => WHO_O,
                b'a' => WHO_U | WHO_G | WHO_O,
                _ => break,
            };
            pos += 1;
        }
        let mut actions = Vec::new();
        loop {
            let op = match bytes.get(pos) {
                Some(b'+') => Op::Add,
                Some(b'-') => Op::Remove,
                Some(b'=') => Op::Assign,
                _ => return Err(symbolic_error(text)),
            };
            pos += 1;
            let mut items = Vec::new();
            let mut run = 0;
            while let Some(&b) = bytes.get(pos) {
                if let Some(bit) = perm_bit(b, op) {
                    run |= bit;
                } else if let Some(class) = class_of(b) {
                    if run != 0 {
                        items.push(Item::Perms(run));
                        run = 0;
                    }
                    items.push(Item::Copy(class));
                } else {
                    break;
                }
                pos += 1;
            }
            if run != 0 {
                items.push(Item::Perms(run));
            }
            actions.push(Action { op, items });
            match bytes.get(pos) {
                None => {
                    clauses.push(Clause { who, actions });
                    return Ok(clauses);
                }
                Some(b',') => {
                    pos += 1;
                    break;
                }
                Some(_) => {}
            }
        }
        clauses.push(Clause { who, actions });
    }
}

fn perm_bit(b: u8, op: Op) -> Option<u8> {
    Some(match b {
        b'r' => PERM_R,
        b'w' => PERM_W,
        b'x' => PERM_X,
        // `-X` removes execute unconditionally, exactly like `-x`.
        b'X' if op == Op::Remove => PERM_X,
        b'X' => PERM_BIG_X,
        b's' => PERM_S,
        b't' => PERM_T,
        _ => return None,
    })
}

fn class_of(b: u8) -> Option<Class> {
    match b {
        b'u' => Some(Class::User),
        b'g' => Some(Class::Group),
        b'o' => Some(Class::Other),
        _ => None,
    }
}

/// The mode being rewritten plus the one fact `X` needs from the original.
struct State {
    mode: u32,
    exec_ok: bool,
}

impl Clause {
    /// The who as mode bits, as setmode(3) computes it.
    fn who_bits(&self) -> u32 {
        let mut bits = 0;
        if self.who & WHO_U != 0 {
            bits |= SETUID | USER;
        }
        if self.who & WHO_G != 0 {
            bits |= SETGID | GROUP;
        }
        if self.who & WHO_O != 0 {
            bits |= OTHER;
        }
        bits
    }

    fn apply(&self, state: &mut State) {
        for action in &self.actions {
            action.apply(self.who_bits(), state);
        }
    }
}

impl Action {
    /// Mirrors setmode(3)'s flushing: permissions are committed before each copy and at the end.
    fn apply(&self, mut who: u32, state: &mut State) {
        let mut perm = 0;
        let mut perm_x = 0;
        let mut assigned = false;
        for item in &self.items {
            match *item {
                Item::Perms(run) => {
                    if run & PERM_R != 0 {
                        perm |= 0o444;
                    }
                    if run & PERM_W != 0 {
                        perm |= 0o222;
                    }
                    if run & PERM_X != 0 {
                        perm |= EXEC;
                    }
                    if run & PERM_BIG_X != 0 {
                        perm_x = EXEC;
                    }
                    // Set-id and sticky are ignored when the who is only `o`.
                    let special_ok = who == 0 || who & !OTHER != 0;
                    if run & PERM_S != 0 && special_ok {
                        perm |= SETUID | SETGID;
                    }
                    if run & PERM_T != 0 && special_ok {
                        who |= STICKY;
                        perm |= STICKY;
                    }
                }
                Item::Copy(class) => {
                    if perm != 0 {
                        self.set_bits(who, perm, state);
                        perm = 0;
                    }
                    if self.op == Op::Assign {
                        assigned = true;
                    }
                    if perm_x != 0 {
                        add_exec(who, perm_x, state);
                        perm_x = 0;
                    }
                    self.copy(class, who, state);
                }
            }
        }
        if perm != 0 || (self.op == Op::Assign && !assigned) {
            self.set_bits(who, perm, state);
        }
        if perm_x != 0 {
            add_exec(who, perm_x, state);
        }
    }

    /// A who of 0 means every class, with no umask (BuildKit passes umask 0).
    fn set_bits(&self, who: u32, perm: u32, state: &mut State) {
        let selected = if who != 0 { who & perm } else { perm };
        match self.op {
            Op::Add => state.mode |= selected,
            Op::Remove => state.mode &= !selected,
            Op::Assign => {
                state.mode &= !(if who != 0 { who } else { STANDARD });
                state.mode |= selected;
            }
        }
    }

    /// Copies a class's current rwx into the who's classes; special bits never move.
    fn copy(&self, class: Class, who: u32, state: &mut State) {
        let value = (state.mode >> class.shift()) & 0o7;
        let targets = [(0o400, 6), (0o040, 3), (0o004, 0)]
            .into_iter()
            .filter(|(read_bit, _)| who == 0 || who & read_bit != 0)
            .map(|(_, shift)| shift);
        let clear = match self.op {
            Op::Add => 0,
            Op::Remove => value,
            Op::Assign => 0o7,
        };
        let set = if self.op == Op::Remove { 0 } else { value };
        for shift in targets {
            state.mode = (state.mode & !(clear << shift)) | (set << shift);
        }
    }
}

fn add_exec(who: u32, perm_x: u32, state: &mut State) {
    if state.exec_ok {
        state.mode |= if who != 0 { who & perm_x } else { perm_x };
    }
}

/// Canonical text for cache keys, so respellings like `ugo+x`/`a+x` or `755`/`0755` share one.
impl fmt::Display for Chmod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chmod::Octal(bits) => write!(f, "{bits:04o}"),
            Chmod::Symbolic(clauses) => {
                for (i, clause) in clauses.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{clause}")?;
                }
                Ok(())
            }
        }
    }
}

/// Spells a clause so that parsing the text gives the same clause back.
impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.who {
            w if w == WHO_U | WHO_G | WHO_O => f.write_str("a")?,
            w => {
                for (bit, letter) in [(WHO_U, "u"), (WHO_G, "g"), (WHO_O, "o")] {
                    if w & bit != 0 {
                        f.write_str(letter)?;
                    }
                }
            }
        }
        for action in &self.actions {
            write!(f, "{}", action.op.letter())?;
            for item in &action.items {
                match *item {
                    Item::Perms(run) => {
                        for (bit, letter) in PERM_LETTERS {
                            if run & bit != 0 {
                                write!(f, "{letter}")?;
                            }
                        }
                    }
                    Item::Copy(class) => write!(f, "{}", class.letter())?,
                }
            }
        }
        Ok(())
    }
}

/// The helper gets the spec as JSON: the value travels as its text.
impl serde::Serialize for Chmod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Chmod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Chmod, D::Error> {
        let text = String::deserialize(deserializer)?;
        Chmod::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_symbolic_values_parse_and_others_do_not() {
        for ok in ["755", "0644", "u=rwX,go=rX", "a+x", "+x", "u+rw-x"] {
            assert!(Chmod::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["999", "abc", "u", "u=rwq", "", "77777"] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }

    const FILE: bool = false;
    const DIR: bool = true;

    fn apply(text: &str, mode: u32, is_dir: bool) -> u32 {
        Chmod::parse(text).unwrap().apply(mode, is_dir)
    }

    fn check(cases: &[(&str, u32, bool, u32)]) {
        for &(text, from, is_dir, want) in cases {
            let got = apply(text, from, is_dir);
            assert_eq!(got, want, "{text:?} on {from:#o} (dir: {is_dir}): got {got:#o}");
        }
    }

    #[test]
    fn octal_replaces_all_bits() {
        check(&[
            ("755", 0o644, FILE, 0o755),
            ("0644", 0o4777, FILE, 0o644),
            ("4755", 0o644, FILE, 0o4755),
            ("7777", 0, DIR, 0o7777),
            ("0", 0o777, DIR, 0),
            ("0000000000000000000755", 0, FILE, 0o755),
            ("0421", 0, FILE, 0o421),
            ("07421", 0, FILE, 0o7421),
        ]);
        assert_eq!(Chmod::parse("755"), Ok(Chmod::Octal(0o755)));
    }

    #[test]
    fn buildkit_integration_cases() {
        // dockerfile_chmod_non_octal_test.go: a 0666 file and a 0124 directory.
        check(&[
            ("go-w", 0o666, FILE, 0o644),
            ("u=rw,g=r,o=r", 0o666, FILE, 0o644),
            ("a+X", 0o666, FILE, 0o666),
            ("go-w", 0o124, DIR, 0o104),
            ("u+rw,g+r,o-x,o+w", 0o124, DIR, 0o766),
            ("a+X", 0o124, DIR, 0o135),
        ]);
    }

    #[test]
    fn octal_ignores_directories_and_exec() {
        assert_eq!(apply("644", 0o755, DIR), 0o644);
    }

    #[test]
    fn invalid_values() {
        for bad in [
            "",
            "999",
            "8",
            "75a",
            "0x755",
            "17777",
            "10000",
            "77777777777",
            "u=q",
            "x+",
            "u",
            "go",
            "q+r",
            ",",
            "u+r,",
            ",u+r",
            "u+r,,g+w",
            "u=rwZ",
            " 755",
            "755 ",
            "u+r ",
            "+755",
            "a+x;",
            "u+é",
            "rwx",
            "ugo",
        ] {
            assert!(Chmod::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn error_messages_name_the_value() {
        assert_eq!(
            Chmod::parse("u=rwZ").unwrap_err(),
            "invalid --chmod value \"u=rwZ\": expected an octal mode like 755 or a symbolic one \
             like u=rwX,go=rX"
        );
        assert_eq!(
            Chmod::parse("17777").unwrap_err(),
            "invalid --chmod value \"17777\": expected an octal mode between 0 and 7777"
        );
        assert!(Chmod::parse("999").unwrap_err().contains("\"999\""));
        assert!(Chmod::parse("").unwrap_err().contains("\"\""));
        assert!(Chmod::parse("x+").unwrap_err().contains("symbolic"));
    }

    #[test]
    fn add_remove_assign_per_class() {
        check(&[
            ("u+r", 0, FILE, 0o400),
            ("u+w", 0, FILE, 0o200),
            ("u+x", 0, FILE, 0o100),
            ("g+r", 0, FILE, 0o040),
            ("g+w", 0, FILE, 0o020),
            ("g+x", 0, FILE, 0o010),
            ("o+r", 0, FILE, 0o004),
            ("o+w", 0, FILE, 0o002),
            ("o+x", 0, FILE, 0o001),
            ("u-r", 0o777, FILE, 0o377),
            ("u-w", 0o777, FILE, 0o577),
            ("u-x", 0o777, FILE, 0o677),
            ("go-w", 0o777, FILE, 0o755),
            ("a-w", 0o777, FILE, 0o555),
            ("u=rw", 0, FILE, 0o600),
            ("u=rw", 0o777, FILE, 0o677),
            ("u=rwx,go=rx", 0, FILE, 0o755),
            ("u=rw,g=r,o=r", 0o666, FILE, 0o644),
        ]);
    }

    #[test]
    fn clause_without_who_means_everyone_without_umask() {
        check(&[
            ("+x", 0o644, FILE, 0o755),
            ("+r", 0, FILE, 0o444),
            ("+w", 0, FILE, 0o222),
            ("-r", 0o777, FILE, 0o333),
            ("-w", 0o777, FILE, 0o555),
            ("-x", 0o777, FILE, 0o666),
            ("=rw", 0, FILE, 0o666),
            ("=rw", 0o777, FILE, 0o666),
            ("+s", 0, FILE, 0o6000),
            ("-s", 0o6777, FILE, 0o777),
        ]);
    }

    #[test]
    fn assign_with_nothing_clears() {
        check(&[
            ("u=", 0o4777, FILE, 0o077),
            ("go=", 0o777, FILE, 0o700),
            ("u+rw,o=", 0o007, FILE, 0o600),
            ("=", 0o777, FILE, 0),
            // Neither a bare `=` nor `a=` touches sticky; only `t` does.
            ("=", 0o1777, DIR, 0o1000),
            ("a=", 0o7777, DIR, 0o1000),
            ("a=t", 0o7777, DIR, 0o1000),
        ]);
    }

    #[test]
    fn empty_operators_are_no_ops() {
        check(&[("+", 0o777, FILE, 0o777), ("-", 0o421, FILE, 0o421), ("u+", 0o640, FILE, 0o640)]);
    }

    #[test]
    fn big_x_on_files_and_directories() {
        check(&[
            ("a+X", 0o644, FILE, 0o644),
            ("a+X", 0o666, FILE, 0o666),
            ("a+X", 0o744, FILE, 0o755),
            ("a+X", 0o010, FILE, 0o111),
            ("+X", 0o644, DIR, 0o755),
            ("a+X", 0o124, DIR, 0o135),
            ("u+X", 0o001, FILE, 0o101),
            ("g+X", 0o100, FILE, 0o110),
            ("o+X", 0o100, FILE, 0o101),
            ("u+X", 0, DIR, 0o100),
            ("o+X", 0, FILE, 0),
            ("u=rwX,go=rX", 0o600, FILE, 0o644),
            ("u=rwX,go=rX", 0o700, FILE, 0o755),
            ("u=rwX,go=rX", 0o777, FILE, 0o755),
            ("u=rwX,go=rX", 0o600, DIR, 0o755),
            ("u=rwX,go=rX", 0o000, DIR, 0o755),
            ("=rw,+X", 0o666, FILE, 0o666),
            ("=rw,+X", 0o766, FILE, 0o777),
        ]);
    }

    #[test]
    fn big_x_looks_at_the_original_mode() {
        // The exec bits are gone when `+X` runs, but the original had them.
        check(&[("a-x,a+X", 0o755, FILE, 0o755), ("a=r,a+X", 0o700, FILE, 0o555)]);
        // And exec added by an earlier clause does not count.
        check(&[("u+x,go+X", 0o644, FILE, 0o744)]);
    }

    #[test]
    fn minus_big_x_is_minus_x() {
        check(&[
            ("-X", 0o777, FILE, 0o666),
            ("u-X", 0o777, DIR, 0o677),
            ("a-X", 0o644, FILE, 0o644),
        ]);
        assert_eq!(Chmod::parse("u-X").unwrap(), Chmod::parse("u-x").unwrap());
    }

    #[test]
    fn clauses_and_operators_apply_in_order() {
        check(&[
            ("a=r,ug=rw,u+x", 0, FILE, 0o764),
            ("a=r,ug=rw,u+x", 0o777, FILE, 0o764),
            ("u+rw,g+r,o-x,o+w", 0o124, DIR, 0o766),
            ("u+r-w", 0o200, FILE, 0o400),
            ("u-r+r", 0o400, FILE, 0o400),
            ("o+w,o-w", 0o000, FILE, 0),
            ("o-w,o+w", 0o000, FILE, 0o002),
        ]);
    }

    #[test]
    fn copying_classes() {
        check(&[
            ("u=g", 0o042, FILE, 0o442),
            ("u=g", 0o742, FILE, 0o442),
            ("u=g-w", 0o722, FILE, 0o022),
            ("u=g-w", 0o742, FILE, 0o442),
            ("u=g-w", 0o762, FILE, 0o462),
            ("u=g-w", 0o772, FILE, 0o572),
            ("u+o", 0o021, FILE, 0o121),
            ("u+g", 0o021, FILE, 0o221),
            ("u+go", 0o021, FILE, 0o321),
            ("u+uo", 0o011, FILE, 0o111),
            ("u=rwx,go=u-w", 0, FILE, 0o755),
            ("go=u-w", 0o770, FILE, 0o755),
            ("go=u-w", 0o670, FILE, 0o644),
            ("go=u-w", 0o570, FILE, 0o555),
            ("go=u-w", 0o370, FILE, 0o311),
            ("g=u", 0o640, FILE, 0o660),
            ("-u", 0o111, FILE, 0),
            ("-Xu", 0o111, FILE, 0),
            ("-uX", 0o111, FILE, 0),
            // Copies move rwx only: setuid survives `u=g`.
            ("u=g", 0o4750, FILE, 0o4550),
        ]);
    }

    #[test]
    fn setuid_setgid_and_sticky() {
        check(&[
            ("u+s", 0, FILE, 0o4000),
            ("g+s", 0o755, DIR, 0o2755),
            ("o+s", 0, FILE, 0),
            ("u-s", 0o4777, FILE, 0o777),
            ("g-s", 0o6755, FILE, 0o4755),
            ("ug+s", 0o755, FILE, 0o6755),
            ("+t", 0o421, FILE, 0o1421),
            ("-t", 0o1421, FILE, 0o421),
            ("a+t", 0o777, DIR, 0o1777),
            ("o+t", 0o777, DIR, 0o777),
            ("u+t", 0, DIR, 0o1000),
            ("o+r,g+w,a+t,g-s,u+og", 0, FILE, 0o1624),
            ("o+r,g+w,a+t,g-s,u+og", 0o2100, FILE, 0o1724),
            ("o+r,g+w,a+t,g-s,u+og", 0o6000, DIR, 0o5624),
        ]);
    }

    #[test]
    fn sticky_letter_narrows_a_wholess_clause() {
        // setmode(3): `t` in a clause with no who turns the who into "sticky
        // only", so the `r` beside it is dropped; with `a` it is kept.
        check(&[("+rt", 0, FILE, 0o1000), ("a+rt", 0, FILE, 0o1444)]);
    }

    #[test]
    fn input_special_bits_are_kept_unless_changed() {
        check(&[("go-w", 0o4777, FILE, 0o4755), ("+x", 0o1644, DIR, 0o1755)]);
        // Bits above 0o7777 in the input are ignored.
        assert_eq!(apply("u+x", 0o100644, FILE), 0o744);
    }

    #[test]
    fn display_is_canonical() {
        for (text, canonical) in [
            ("755", "0755"),
            ("04755", "4755"),
            ("0", "0000"),
            ("ugo+x", "a+x"),
            ("a+x", "a+x"),
            ("+x", "+x"),
            ("ou=wr", "uo=rw"),
            ("uu+xrrx", "u+rx"),
            ("go=Xr", "go=rX"),
            ("u-X", "u-x"),
            ("u=rwX,go=rX", "u=rwX,go=rX"),
            ("g=u-w", "g=u-w"),
            ("u=rgw", "u=rgw"),
            ("u+r-w=x", "u+r-w=x"),
            ("+ts", "+st"),
            ("u=", "u="),
            ("+", "+"),
        ] {
            let parsed = Chmod::parse(text).unwrap();
            assert_eq!(parsed.to_string(), canonical, "canonical form of {text:?}");
            assert_eq!(Chmod::parse(canonical).unwrap(), parsed, "{canonical:?} parses back");
        }
    }

    #[test]
    fn display_keeps_meaning() {
        let texts = [
            "u=rwX,go=rX",
            "o+r,g+w,a+t,g-s,u+og",
            "+rt",
            "a+rt",
            "go=u-w",
            "u=rgw",
            "=",
            "-Xu",
            "+tu",
            "ug=rw,o=,+X",
        ];
        for text in texts {
            let parsed = Chmod::parse(text).unwrap();
            let again = Chmod::parse(&parsed.to_string()).unwrap();
            for mode in (0..=0o7777).step_by(0o123) {
                for is_dir in [FILE, DIR] {
                    assert_eq!(parsed.apply(mode, is_dir), again.apply(mode, is_dir), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn who_less_is_not_a() {
        assert_ne!(Chmod::parse("+x").unwrap(), Chmod::parse("a+x").unwrap());
        assert_eq!(Chmod::parse("ugo+x").unwrap(), Chmod::parse("a+x").unwrap());
    }
}
