// The light theme unless the reader chose another: sphinx-book-theme leaves pydata's default mode empty,
// which the theme's script reports as a console error ("Got invalid theme mode"). This runs before it.
if (!document.documentElement.dataset.mode) {
  document.documentElement.dataset.mode = "light";
  document.documentElement.dataset.theme = "light";
}

// Chapter titles in _toc.yml read "00 Why activation functions · 激活函数的作用". Show the Chinese section
// title on its own line under the English one, in the sidebar and in the previous/next links.
document.addEventListener("DOMContentLoaded", () => {
  const separator = " · ";
  document.querySelectorAll(".bd-sidenav a, .prev-next-title").forEach((el) => {
    if (el.children.length > 0) return;
    const text = el.textContent;
    const at = text.indexOf(separator);
    if (at < 0) return;
    el.textContent = text.slice(0, at);
    const zh = document.createElement("span");
    zh.className = "zh-title";
    zh.lang = "zh";
    zh.textContent = text.slice(at + separator.length);
    el.appendChild(zh);
  });
});
