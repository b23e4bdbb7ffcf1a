//! Which layout the keyboards use: the command line's `keyboard=` (a one-off, for this boot
//! entry) over the manifest's `keyboard_layout` (the system's choice), US when neither says.
//! A manifest naming a layout this kernel does not know keeps US and says so.

use core::fmt;

use drivers::ps2::{Layout, UnknownLayout};

/// The layout chosen and where it came from (its `Display` is the boot-log line's text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice<'a> {
    pub layout: Layout,
    pub why: Why<'a>,
}

/// Where a [`Choice`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why<'a> {
    /// Neither the command line nor the manifest names one.
    Default,
    /// The command line's `keyboard=`; the manifest names none.
    CommandLine,
    /// The command line's `keyboard=` wins over the manifest's (given) name.
    CommandLineOverManifest(&'a str),
    /// The manifest's `keyboard_layout`.
    Manifest,
    /// The manifest names a layout this kernel does not know (the given name).
    UnknownInManifest(&'a str),
}

impl Choice<'_> {
    /// Whether the line is a warning (the manifest asked for something this kernel lacks).
    pub fn is_warning(&self) -> bool {
        matches!(self.why, Why::UnknownInManifest(_))
    }
}

/// Chooses between `cmdline` (`keyboard=`, if given) and `manifest` (`keyboard_layout`).
pub fn choose<'a>(cmdline: Option<Layout>, manifest: Option<&'a str>) -> Choice<'a> {
    let (layout, why) = match (cmdline, manifest) {
        (Some(l), Some(name)) => (l, Why::CommandLineOverManifest(name)),
        (Some(l), None) => (l, Why::CommandLine),
        (None, Some(name)) => match name.parse() {
            Ok(l) => (l, Why::Manifest),
            Err(UnknownLayout) => (Layout::default(), Why::UnknownInManifest(name)),
        },
        (None, None) => (Layout::default(), Why::Default),
    };
    Choice { layout, why }
}

impl fmt::Display for Choice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layout = self.layout;
        match self.why {
            Why::Default => write!(f, "keyboard: layout {layout} (the default)"),
            Why::CommandLine => write!(f, "keyboard: layout {layout} (command line)"),
            Why::CommandLineOverManifest(name) => write!(
                f,
                "keyboard: layout {layout} (command line; the manifest's keyboard_layout `{name}` is not used)"
            ),
            Why::Manifest => write!(f, "keyboard: layout {layout} (the manifest's keyboard_layout)"),
            Why::UnknownInManifest(name) => write!(
                f,
                "keyboard: the manifest's keyboard_layout `{name}`: {UnknownLayout}; keeping {layout}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn command_line_wins_then_manifest_then_us() {
        assert_eq!(choose(None, None).layout, Layout::Us);
        assert_eq!(choose(None, Some("de")).layout, Layout::De);
        assert_eq!(choose(Some(Layout::Fr), Some("de")).layout, Layout::Fr);
        assert_eq!(choose(Some(Layout::Uk), None).layout, Layout::Uk);
        let unknown = choose(None, Some("klingon"));
        assert_eq!(unknown.layout, Layout::Us);
        assert!(unknown.is_warning());
        assert!(!choose(None, Some("de")).is_warning());
    }

    #[test]
    fn each_choice_is_one_line_that_says_why() {
        assert_eq!(
            choose(None, Some("de")).to_string(),
            "keyboard: layout de (the manifest's keyboard_layout)"
        );
        assert_eq!(
            choose(Some(Layout::Fr), Some("de")).to_string(),
            "keyboard: layout fr (command line; the manifest's keyboard_layout `de` is not used)"
        );
        assert_eq!(
            choose(None, Some("xx")).to_string(),
            "keyboard: the manifest's keyboard_layout `xx`: unknown keyboard layout (expected us, uk, de or fr); keeping us"
        );
        assert_eq!(
            choose(None, None).to_string(),
            "keyboard: layout us (the default)"
        );
    }
}
