// Browser-direct uploads: the bucket's policy wants the file's type in a field
// before the file itself, and only a script can read the chosen file's type.
for (const form of document.querySelectorAll("form.direct-upload")) {
  const file = form.querySelector("input[type=file]");
  const type = form.querySelector("input[name='Content-Type']");
  file.addEventListener("change", () => {
    type.value = file.files.length ? file.files[0].type : "";
  });
}
