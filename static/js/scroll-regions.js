// On a narrow screen a wide table scrolls sideways (site.css). A region that scrolls must be reachable by
// keyboard (WCAG 2.1.1, axe's scrollable-region-focusable): such an element is made focusable, and plain again
// once it fits. Looked at again when the window is resized and when a page replaces its content (the case
// page's live steps).
(() => {
  const main = document.getElementById("main");
  if (!main) return;
  let pending = false;

  function mark() {
    pending = false;
    main.querySelectorAll("*").forEach((element) => {
      const overflow = getComputedStyle(element).overflowX;
      const scrolls = (overflow === "auto" || overflow === "scroll") && element.scrollWidth > element.clientWidth + 1;
      if (scrolls && !element.hasAttribute("tabindex")) {
        element.tabIndex = 0;
        element.dataset.scrollRegion = "";
      } else if (!scrolls && "scrollRegion" in element.dataset) {
        element.removeAttribute("tabindex");
        delete element.dataset.scrollRegion;
      }
    });
  }

  function soon() {
    if (!pending) {
      pending = true;
      requestAnimationFrame(mark);
    }
  }

  mark();
  window.addEventListener("resize", soon);
  new MutationObserver(soon).observe(main, { childList: true, subtree: true });
})();
