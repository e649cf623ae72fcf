// The console's only script of its own: print buttons (no inline handlers: the CSP forbids
// them). It keeps nothing in the browser.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) {
    event.preventDefault();
    window.print();
  }
});
