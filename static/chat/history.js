/* Earlier messages: "Load earlier", or scrolling near the top, pages back through the thread
 * (`GET /api/threads/<id>/events?before=N`, whole turns at a time) and puts them above what
 * is shown, keeping the reader's place.
 */
(function (root) {
  "use strict";

  const NEAR_TOP_PX = 240;

  class History {
    constructor({ scroller, transcript, edge, client, firstSeq }) {
      Object.assign(this, { scroller, transcript, client });
      this.button = edge.querySelector(".load-earlier");
      this.prunedNote = edge.querySelector(".pruned-note");
      this.startNote = edge.querySelector(".start-note");
      this.oldest = firstSeq; // the oldest seq shown: the next page ends before it
      this.loading = false;
      this.log = []; // every seq history rendered, to check that nothing shows twice
      this.button.addEventListener("click", () => this.loadEarlier());
      scroller.addEventListener("scroll", () => {
        if (scroller.scrollTop < NEAR_TOP_PX && this.more()) this.loadEarlier();
      });
    }

    more() {
      return !this.button.hidden;
    }

    /** Where the shown history begins: more to load, pruned, or the conversation's start. */
    setEdge({ more, pruned, oldest }) {
      if (oldest !== undefined) this.oldest = oldest;
      this.button.hidden = !more;
      this.prunedNote.hidden = more || !pruned;
      this.startNote.hidden = more || pruned || !this.transcript.querySelector("[data-seq]");
    }

    async loadEarlier() {
      if (this.loading || !this.more()) return;
      this.loading = true;
      this.button.disabled = true;
      this.button.textContent = "Loading earlier messages…";
      try {
        const page = await this.client.history(this.oldest);
        this.prepend(page.events);
        this.setEdge({ ...page, oldest: page.events.length ? page.events[0].seq : this.oldest });
        this.button.textContent = "Load earlier messages";
      } catch (error) {
        this.button.textContent = "Could not load earlier messages — try again";
      } finally {
        this.loading = false;
        this.button.disabled = false;
      }
    }

    /** Renders `events` (oldest first) above the transcript; the view does not jump. */
    prepend(events) {
      const batch = document.createElement("ol");
      const renderer = new root.LedgerlineRender.Renderer(batch, this.transcript);
      for (const frame of events) {
        renderer.render(frame);
        this.log.push(frame.seq);
      }
      const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
      this.transcript.querySelector(".empty-thread")?.remove();
      this.transcript.prepend(...batch.children);
      this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
    }
  }

  root.LedgerlineHistory = { History };
})(self);
