// Runs once when the conversation component mounts (gr.HTML js_on_load: `element` is its root).
// One delegated listener survives every re-render of the conversation HTML.
// A click on a citation marker [n] opens that answer's source n, scrolls it into view and flashes it.
element.addEventListener('click', function (ev) {
  const btn = ev.target.closest('button.nr-cite');
  if (!btn || !element.contains(btn)) return;
  ev.preventDefault();
  const id = btn.getAttribute('data-target') || '';
  if (!/^nr-src-\d+-\d+$/.test(id)) return;
  const box = element.querySelector('#' + id);
  if (!box) return;
  box.open = true;
  box.classList.remove('nr-flash');
  void box.offsetWidth;  // restart the animation when the same source is clicked twice
  box.classList.add('nr-flash');
  // bring the highlighted sentence into view (inside the passage box, the chat log and the page)
  const mark = box.querySelector('mark');
  (mark || box).scrollIntoView({behavior: 'smooth', block: 'center'});
});
