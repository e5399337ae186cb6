// Runs once when the library table mounts (gr.HTML js_on_load). A click on a row or its "View"
// button asks the server to show that article; the id is validated server-side.
element.addEventListener('click', function (ev) {
  const row = ev.target.closest('tr[data-doc]');
  if (!row || !element.contains(row)) return;
  trigger('view_doc', {doc_id: row.getAttribute('data-doc')});
});
