"""Frames as soon as there is something to show, drawing only what changed.

Textual (8.2.8) paints a screen from its frame timer: a refresh asks the
screen, when it is next idle, to resume a paused interval timer, and the frame
is drawn on that timer's next tick. After a frame, a refresh that comes within
the next interval waits for a tick that, once the timer's catch-up step has
run, lands one to two intervals out: up to ~33 ms at 60 FPS (textual/timer.py
``Timer._run``: ``count = int((now - start) / interval + 1)``, then the next tick
at ``start + (count + 1) * interval``). A till that shows a scanned line a
frame or two late feels slow.

``PromptFrames`` (a screen mixin) draws the frame when the screen is idle
with something to repaint, instead of resuming the timer: what the screen
does in reaction to a key reaches the terminal as soon as it is done. Frames
are still drawn only when the screen is idle, so a burst of changes is one
frame, and a screen inside ``app.batch_update()`` waits for its end.

Its screen's compositor (:class:`DirtyCompositor`) draws a partial frame from
the widgets under the changed regions only. Textual's crops the frame to the
rectangle around every changed region and renders every widget inside that
rectangle, whole: a scan changes the scan field (top), one line (middle) and
the totals (side), so its rectangle is nearly the screen, and every widget on
it (header, footer, key bar, labels, containers) was rendered again to draw
four small regions.
"""
from __future__ import annotations

from textual import events
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region


class DirtyCompositor(Compositor):
    """A compositor whose partial frames render, front to back as Textual's
    own, only the rows of each widget that lie under a changed region and that
    no widget in front of it already covers (a container behind its children
    is not rendered at all)."""

    def render_partial_update(self) -> ChopsUpdate | None:
        regions = self._dirty_regions.copy()
        self._dirty_regions.clear()
        if not regions:
            return None
        screen = self.size.region
        regions = [r for r in (screen.intersection(r) for r in regions) if r]
        if not regions:
            return None
        spans = list(self._regions_to_spans(regions))
        drawn = {y for y, _, _ in spans}
        cuts = self.cuts
        chops = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        for widget, (region, clip) in self.visible_widgets.items():
            visible = region.intersection(clip)
            if not visible:
                continue
            first_cut, last_cut = visible.column_span
            rows = []        # the changed rows of this widget where nothing in front covers it
            for r in regions:
                hit = visible.intersection(r)
                if not hit:
                    continue
                x1, x2 = hit.column_span
                for y in hit.line_range:
                    line, ys = chops[y], cuts[y]
                    if any(line[cut] is None for cut, end in zip(ys, ys[1:]) if cut < x2 and end > x1):
                        rows.append(y)
            if not rows:
                continue
            top, bottom = min(rows), max(rows) + 1
            strips = widget.render_lines(Region(visible.x - region.x, top - region.y, visible.width, bottom - top))
            x0 = visible.x
            for y, strip in zip(range(top, bottom), strips):
                if y not in drawn:
                    continue
                line = chops[y]
                final = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                for cut, piece in zip(final, strip.divide([cut - x0 for cut in final[1:]])):
                    if line.get(cut) is None:
                        line[cut] = piece
        return ChopsUpdate(chops, spans, [cut_set[1:] for cut_set in cuts])


class PromptFrames:
    """Mixin for a ``textual.screen.Screen``: paint when idle, not on the next
    timer tick; partial frames from the changed widgets only."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._compositor = DirtyCompositor()

    async def _on_idle(self, event: events.Idle) -> None:
        if self.app._batch_count or not self.is_current:
            return      # the Screen's own idle handler does what it always does
        if (self._layout_required or self._scroll_required or self._repaint_required
                or self._recompose_required or self._dirty_widgets):
            event.prevent_default()       # not the Screen's handler: it would resume the timer
            self._on_timer_update()
