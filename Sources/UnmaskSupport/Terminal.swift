#if canImport(Glibc)
import Glibc
#endif
import CCPUFeatures

/// Interrupts (Ctrl-C, SIGTERM) as a flag a long job polls, so it can stop at a safe point.
public enum Interrupts {
    /// From now on SIGINT and SIGTERM set the flag instead of killing the process; a second
    /// one kills it as usual.
    public static func watch() { unmask_watch_interrupts() }
    /// The signal received since `watch()`, or nil.
    public static var received: Int32? {
        let s = unmask_interrupt_received()
        return s == 0 ? nil : s
    }
}

/// Standard output written line by line, for streams that a reader may cut short.
public enum StandardOutput {
    /// Writes `line` and a newline with write(2) straight away (no stdio buffer), looping
    /// on partial writes: a Ctrl-C between two lines leaves only complete lines behind.
    /// When the reader has gone (`| head -1`), the process ends as a closed pipe ends it,
    /// quietly, by SIGPIPE (status 141 in a shell).
    public static func writeLine(_ line: String) {
        fflush(stdout)  // anything print() buffered goes first, in order
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE {
                    signal(SIGPIPE, SIG_DFL)
                    raise(SIGPIPE)
                }
                exit(1)
            }
            offset += n
        }
    }
}

/// The terminal on standard output: its size, and a full-screen live view.
public enum Terminal {
    /// (columns, rows) of the terminal on `fd`, or nil if it is not a terminal or does not say.
    public static func size(fd: Int32 = 1) -> (columns: Int, rows: Int)? {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return nil }
        return (Int(size.ws_col), Int(size.ws_row))
    }

    /// Switches to the alternate screen with the cursor hidden, as `less` and `top` do: what
    /// is drawn there never reaches the scrollback, so an animation leaves no stale frames
    /// behind. A Ctrl-C while it is shown restores the terminal before the process dies.
    public static func enterLiveView() {
        fputs(enterSequence, stdout)
        fflush(stdout)
        unmask_restore_terminal_on_signal(leaveSequence)
    }

    /// Back to the normal screen, as it was before `enterLiveView`.
    public static func leaveLiveView() {
        unmask_stop_restoring_terminal()
        fputs(leaveSequence, stdout)
        fflush(stdout)
    }

    /// Draws one frame from the top-left corner of the live view, clipped to the screen.
    public static func drawFrame(_ lines: [String], columns: Int, rows: Int) {
        let shown = clip(lines, columns: columns, rows: rows)
        fputs("\u{1B}[H\u{1B}[J" + shown.joined(separator: "\n"), stdout)
        fflush(stdout)
    }

    static let enterSequence = "\u{1B}[?1049h\u{1B}[?25l"
    static let leaveSequence = "\u{1B}[?25h\u{1B}[?1049l"

    /// The first lines of `lines` that fit in `rows` screen rows of `columns` columns,
    /// counting the rows a long line wraps onto (one column per Unicode scalar, and escape
    /// sequences take none). When the text does not fit, the last row shown is "…", so
    /// the frame never scrolls: a frame that scrolled would leave its top rows behind.
    public static func clip(_ lines: [String], columns: Int, rows: Int) -> [String] {
        let columns = max(1, columns), rows = max(1, rows)
        var out: [String] = []
        var used = 0
        for (i, line) in lines.enumerated() {
            let need = max(1, (visibleWidth(line) + columns - 1) / columns)
            let isLast = i == lines.count - 1
            if used + need <= (isLast ? rows : rows - 1) {
                out.append(line)
                used += need
                continue
            }
            out.append("…")
            break
        }
        return out
    }

    /// Columns a line takes: Unicode scalars, not counting ESC [ … m colour sequences.
    public static func visibleWidth(_ line: String) -> Int {
        var width = 0
        var inEscape = false
        for scalar in line.unicodeScalars {
            if inEscape {
                if scalar.value >= 0x40 && scalar.value <= 0x7E && scalar != "[" { inEscape = false }
            } else if scalar == "\u{1B}" {
                inEscape = true
            } else {
                width += 1
            }
        }
        return width
    }
}
