"""A one-line progress bar for an epoch, written with ``\\r`` to stderr.

No dependency (tqdm would be one more thing to install for a few dozen
lines).  The bar goes to stderr so that stdout keeps only network3's result
lines, which scripts and logs parse.  It redraws at most every
``min_interval`` seconds: a training call takes about a millisecond on the
shallow net, and writing to a terminal on every call would cost more than
the call.

Whether to draw at all is :func:`progress_enabled`'s decision: ``"auto"``
draws only on an interactive terminal and when not quiet (a ``\\r`` bar in a
log file or a CI transcript is noise); ``True`` forces it (tests capture it
that way); ``False`` never draws.
"""
import sys
import time

__all__ = ["ProgressBar", "progress_enabled"]


def progress_enabled(setting, verbose=True, stream=None):
    """Resolve ``progress=`` (True, False/None, or "auto") into draw / don't draw."""
    if setting is True or setting == "always":
        return True
    if setting in (False, None, "never"):
        return False
    if setting != "auto":
        raise ValueError(f"progress must be True, False or 'auto', got {setting!r}")
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(verbose and isatty is not None and isatty())


def _duration(seconds):
    seconds = int(round(seconds))
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """Progress through ``total`` mini-batches of ``batch_size`` examples each.

    ``update(done)`` after each mini-batch; ``close(suffix)`` ends the line
    (the finished bar stays on screen, one line per epoch); ``clear()`` wipes
    the line so that other output can be printed, the next update redraws it.
    The rate shown is training examples per second since the bar started.
    """

    def __init__(self, total, batch_size=1, label="", stream=None, width=30, min_interval=0.1,
                 clock=time.perf_counter):
        self.total = max(int(total), 1)
        self.batch_size = int(batch_size)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.width = int(width)
        self.min_interval = float(min_interval)
        self.clock = clock
        self.start = clock()
        self.done = 0
        self._last_draw = None
        self._shown = 0  # length of the text now on the line, to blank leftovers

    def rate(self):
        """Training examples per second so far (0 before any time has passed)."""
        elapsed = self.clock() - self.start
        return self.done * self.batch_size / elapsed if elapsed > 0 else 0.0

    def text(self, final=False):
        filled = self.width * self.done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = self.clock() - self.start
        rate = self.rate()
        if final:
            tail = f"{_duration(elapsed)}"
        elif rate > 0:
            tail = f"ETA {_duration((self.total - self.done) * self.batch_size / rate)}"
        else:
            tail = "ETA ?"
        label = f"{self.label} " if self.label else ""
        return (f"{label}[{bar}] {self.done}/{self.total} mini-batches, "
                f"{rate:,.0f} examples/s, {tail}")

    def _write(self, text):
        pad = " " * max(self._shown - len(text), 0)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._shown = len(text)

    def update(self, done):
        self.done = min(int(done), self.total)
        now = self.clock()
        if self._last_draw is None or now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._write(self.text())

    def clear(self):
        """Blank the line (before printing something else); the next update redraws."""
        if self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0
            self._last_draw = None

    def close(self, suffix=""):
        """Draw the final state, with ``suffix`` appended, and end the line."""
        self._write(self.text(final=True) + (f", {suffix}" if suffix else ""))
        self.stream.write("\n")
        self.stream.flush()
        self._shown = 0
