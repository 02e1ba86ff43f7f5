/* The chat's one markdown renderer: markdown-it, then DOMPurify (both in static/vendor/).
 *
 * Every answer goes through `render`: live ones, history pages, and those the server wrote
 * into the page as source text (`[data-markdown]`). markdown-it escapes raw HTML (html: false)
 * and refuses javascript: links; DOMPurify then keeps only the tags below, so no script, no
 * event handler and no style reaches the page, and every link opens apart with rel=noopener.
 */
(function (root) {
  "use strict";
  if (!root.markdownit || !root.DOMPurify) return;

  const parser = root.markdownit({ html: false, linkify: false, typographer: false, breaks: true });
  parser.disable(["image"]); // the page's CSP loads images from its own origin only
  const purifier = root.DOMPurify(root); // an instance of our own: its hook touches no one else's
  const CONFIG = {
    ALLOWED_TAGS: ["p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
      "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td"],
    ALLOWED_ATTR: ["href", "title", "start", "class"],
    ALLOWED_URI_REGEXP: /^(?:https?:\/\/|mailto:|\/(?!\/)|#)/i,
    RETURN_DOM_FRAGMENT: true,
  };
  purifier.addHook("uponSanitizeAttribute", (node, data) => {
    // Only a code block's language class ("language-py") is kept; no class can restyle the page.
    if (data.attrName === "class" && !/^language-[\w-]+$/.test(data.attrValue)) data.keepAttr = false;
  });
  purifier.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName !== "A") return;
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  });

  /** Markdown source to a sanitized DocumentFragment. */
  function render(text) {
    return purifier.sanitize(parser.render(String(text || "")), CONFIG);
  }

  /** Replace `element`'s content with `text` rendered; it is no longer source text. */
  function renderInto(element, text) {
    element.replaceChildren(render(text));
    element.removeAttribute("data-markdown");
    element.classList.add("markdown");
  }

  root.LedgerlineMarkdown = { render, renderInto };
})(self);
