// Entry form: live commentary previews, tag suggestions, and filling fields from arXiv.
// Everything here is an enhancement: without JavaScript the form still saves, the preview
// shows the last saved text, and the arXiv button reloads the page with the fields filled.
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  // --- Live preview: the server's render_markdown, so it is exactly what readers see.
  function setUpPreview(preview) {
    var source = document.getElementById(preview.dataset.source);
    if (!source) return;
    var latest = 0;
    var refresh = debounce(function () {
      var request = ++latest;
      var body = new FormData();
      body.append("text", source.value);
      fetch(preview.dataset.url, {
        method: "POST",
        body: body,
        headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
        credentials: "same-origin",
      })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (request !== latest) return; // an older answer arriving late
          preview.innerHTML = data.html; // sanitised by the server (nh3 allowlist)
          preview.classList.remove("is-stale");
        })
        .catch(function () { /* keep the last preview; it is marked stale */ });
    }, 250);
    source.addEventListener("input", function () {
      preview.classList.add("is-stale");
      refresh();
    });
  }

  // --- Tag suggestions: a <datalist> whose options are the whole line with the last tag completed.
  function setUpTags(input, datalist) {
    input.setAttribute("list", datalist.id);
    var fill = debounce(function () {
      var value = input.value;
      var match = /^(.*?)(#?)([^\s,#]*)$/.exec(value);
      var prefix = match[1];
      var word = match[3];
      var typed = prefix.split(/[\s,]+/).map(function (t) { return t.replace(/^#/, ""); });
      fetch(datalist.dataset.url + "?q=" + encodeURIComponent(word), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (input.value !== value) return;
          datalist.textContent = "";
          data.results.forEach(function (tag) {
            if (typed.indexOf(tag.slug) !== -1) return;
            var option = document.createElement("option");
            option.value = prefix + "#" + tag.slug;
            option.label = tag.name !== tag.slug ? tag.name + " (" + tag.count + ")" : String(tag.count);
            datalist.appendChild(option);
          });
        })
        .catch(function () {});
    }, 150);
    input.addEventListener("input", fill);
    input.addEventListener("focus", fill);
  }

  // --- arXiv: fill the fields in place, keeping whatever commentary is already typed.
  function setUpArxiv(form) {
    var status = form.querySelector(".arxiv-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      status.classList.remove("is-error");
      status.textContent = "Looking it up…";
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
        credentials: "same-origin",
      })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (data.error) {
            status.classList.add("is-error");
            status.textContent = data.error;
            return;
          }
          Object.keys(data.fields).forEach(function (name) {
            var field = document.getElementById("id_" + name);
            if (field) {
              field.value = data.fields[name];
              field.dispatchEvent(new Event("input", { bubbles: true }));
            }
          });
          status.textContent = "Filled from arXiv " + data.fields.arxiv_id + ". ";
          if (data.warning) {
            var warning = document.createElement("span");
            warning.className = "repeat-warning";
            warning.innerHTML = data.warning; // built by format_html on the server
            status.appendChild(warning);
          }
        })
        .catch(function () { form.submit(); }) // fall back to the page reload
        .finally(function () { button.disabled = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".md-preview[data-source]").forEach(setUpPreview);
    var datalist = document.getElementById("tag-suggestions");
    var tags = document.querySelector("input.tag-line");
    if (datalist && tags) setUpTags(tags, datalist);
    var arxiv = document.querySelector("form.arxiv-lookup");
    if (arxiv) setUpArxiv(arxiv);
  });
})();
