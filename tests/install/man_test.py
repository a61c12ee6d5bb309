"""The manual pages: they render without a warning, and they say what the code does.

Run from the runfiles root (tests/install/man_test.sh). Checks:

1. Every page of man/ renders with `groff -man -ww -Tutf8` with nothing on stderr.
2. hpcd.ini(5) documents exactly the [daemon] keys of daemon/config.c (keys
   the SPEC pins that the code does not have yet may be documented ahead of it,
   and are named), the `plugin` key, and, for every plugin plugins/BUILD
   builds, exactly the keys its ops table accepts (read from the .so files
   themselves by plugin_keys).
3. The README's plugin settings table lists the same keys per plugin, and
   every range (A..B) and default it states for a key is stated by the man
   page's entry for that key too.
4. Every option `hpcd --help`, `hpcrun --help` and `hpcgen --help` print is in
   that program's manual page, and every option its OPTIONS section lists is
   in the --help; hpcd's and hpcrun's --help name their manual pages.
5. libhpc(3) names every function libhpc.so exports (libhpc/libhpc.lds).
"""
import glob
import os
import re
import subprocess
import sys

# [daemon] keys the SPEC (section Limits) pins that daemon/config.c may not have yet.
SPEC_AHEAD = {"max_total_arena_mb", "max_clients"}
PAGES = {"hpcd.8", "hpcd.ini.5", "hpcrun.1", "hpcgen.1", "libhpc.3"}

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def note(msg):
    print("note: " + msg)


def render(page):
    """The page as plain ASCII text: no hyphenation, no wrapping, no overstrikes."""
    out = subprocess.run(
        ["groff", "-man", "-Tascii", "-rLL=400n", "-rHY=0", "-P-cbou", page],
        check=True, capture_output=True, text=True)
    return out.stdout


def squash(s):
    return re.sub(r"\s+", " ", s).strip()


def man_entries(text):
    """{(section, subsection): {key: entry text}} from a rendered page's .TP entries."""
    entries = {}
    sec = sub = None
    key = None
    for line in text.splitlines():
        if re.match(r"^\S", line):
            sec, sub, key = line.strip(), None, None
        elif re.match(r"^   \S", line):
            sub, key = line.strip(), None
        elif m := re.match(r"^       ([a-z][a-z0-9_]*) = ", line):
            key = m.group(1)
            entries.setdefault((sec, sub), {})[key] = line.strip()
        elif re.match(r"^              \S", line) and key:
            entries[(sec, sub)][key] += " " + line.strip()
        elif line.strip():
            key = None
    return {k: {kk: squash(vv) for kk, vv in v.items()} for k, v in entries.items()}


def section(text, title):
    """The rendered text of one .SH section."""
    m = re.search(r"^" + re.escape(title) + r"\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
    return m.group(1) if m else ""


# ---- 1. rendering --------------------------------------------------------------------

pages = {os.path.basename(p): p for p in glob.glob("man/*.[1-8]")}
if set(pages) != PAGES:
    fail(f"man/ holds {sorted(pages)}, expected {sorted(PAGES)}")
for name, path in sorted(pages.items()):
    r = subprocess.run(["groff", "-man", "-ww", "-Tutf8", path],
                       capture_output=True, text=True)
    if r.returncode != 0 or r.stderr:
        fail(f"{name} does not render cleanly (groff -man -ww -Tutf8, rc {r.returncode}):\n"
             f"{r.stderr}")
    elif len(r.stdout) < 500:
        fail(f"{name} renders to almost nothing")
rendered = {name: render(path) for name, path in pages.items()}

# ---- 2. hpcd.ini(5) against the code -----------------------------------------------

ini = man_entries(rendered.get("hpcd.ini.5", ""))
config_c = open("daemon/config.c").read()
code_keys = set(re.findall(r'\[K_[A-Z0-9_]+\]\s*=\s*"([a-z0-9_]+)"', config_c))
if len(code_keys) < 5:
    fail(f"found only {sorted(code_keys)} in daemon/config.c's daemon_keys: parse broken?")
man_daemon = set(ini.get(("THE [daemon] SECTION", None), {}))
if missing := code_keys - man_daemon:
    fail(f"hpcd.ini(5) lacks [daemon] keys of daemon/config.c: {sorted(missing)}")
extra = man_daemon - code_keys
if extra - SPEC_AHEAD:
    fail(f"hpcd.ini(5) documents [daemon] keys daemon/config.c does not accept: "
         f"{sorted(extra - SPEC_AHEAD)}")
for k in sorted(extra & SPEC_AHEAD):
    note(f"[daemon] {k} is documented per the SPEC; daemon/config.c does not accept it yet")
for k in sorted(SPEC_AHEAD - man_daemon):
    fail(f"hpcd.ini(5) lacks the SPEC's [daemon] key {k}")

if '"plugin"' not in config_c:
    fail("daemon/config.c no longer reads the 'plugin' key; update hpcd.ini(5)")
if set(ini.get(("[backend NAME] SECTIONS", None), {})) != {"plugin"}:
    fail("hpcd.ini(5) [backend NAME] SECTIONS must document exactly the 'plugin' key")

# plugins/BUILD as the checkout has it (Bazel keeps it out of the runfiles):
# every plugin it builds must be in this test's data.
checkout = os.path.dirname(os.path.dirname(os.path.realpath("man/hpcd.8")))
build = open(os.path.join(checkout, "plugins/BUILD")).read()
plugin_names = re.findall(r'name = "libhpc_([a-z0-9_]+)\.so"', build)
if len(plugin_names) < 5:
    fail(f"plugins/BUILD names only {plugin_names}")
files = [f"plugins/libhpc_{n}.so" for n in plugin_names]
for f in files:
    if not os.path.exists(f):
        fail(f"{f} is built by plugins/BUILD but is not in this test's data "
             "(add it to tests/install/BUILD)")
files = [f for f in files if os.path.exists(f)]
out = subprocess.run(["tests/install/plugin_keys"] + [os.path.abspath(f) for f in files],
                     check=True, capture_output=True, text=True).stdout
plugin_keys = {}
for line in out.splitlines():
    name, *keys = line.split()
    plugin_keys[name] = keys
if set(plugin_keys) != set(n for n in plugin_names if f"plugins/libhpc_{n}.so" in files):
    fail(f"the plugins' own names {sorted(plugin_keys)} differ from their files")

man_plugins = {sub: keys for (sec, sub), keys in ini.items() if sec == "PLUGIN SETTINGS"}
rendered_ini = rendered.get("hpcd.ini.5", "")
for sub in re.findall(r"^   (\S+)$", section(rendered_ini, "PLUGIN SETTINGS"), re.M):
    man_plugins.setdefault(sub, {})
if set(man_plugins) != set(plugin_keys):
    fail(f"hpcd.ini(5) PLUGIN SETTINGS has subsections {sorted(man_plugins)}, "
         f"the plugins are {sorted(plugin_keys)}")
for name, keys in sorted(plugin_keys.items()):
    got = set(man_plugins.get(name, {}))
    if got != set(keys):
        fail(f"hpcd.ini(5) lists {sorted(got)} for {name}; the plugin accepts {sorted(keys)}")

# ---- 2b. ranges, choices and defaults: the plugins' own schemas against hpcd.ini(5) ------

def page_states(name, key, entry, forms, source):
    """One fact compared: the hpcd.ini(5) entry must contain one of forms."""
    if not any(f in entry for f in forms):
        fail(f"{name} {key}: {source} '{forms[-1]}'; hpcd.ini(5) says: {entry}")
    return 1


def range_forms(lo, hi):
    """How a page may write the range lo..hi: decimal, or 2^k for a power of two."""
    his = [str(hi)]
    if hi >= 1024 and hi & (hi - 1) == 0:
        his.append(f"2^{hi.bit_length() - 1}")
    return [f"{lo}..{h}" for h in his]


out = subprocess.run(["tests/install/plugin_keys", "--schema"] +
                     [os.path.abspath(f) for f in files],
                     check=True, capture_output=True, text=True).stdout
schema_checked = 0
for line in out.splitlines():
    name, key, typ, lo, hi, choices, default = line.split("\t")
    entry = man_plugins.get(name, {}).get(key)
    if entry is None:
        continue  # reported above
    if typ == "uint":
        schema_checked += page_states(name, key, entry, range_forms(int(lo), int(hi)),
                                      "the plugin takes")
    if choices != "-":
        for c in choices.split("|"):
            schema_checked += 1
            if not re.search(rf"\b{re.escape(c)}\b", entry):
                fail(f"{name} {key}: the plugin accepts '{c}'; hpcd.ini(5) says: {entry}")
    if default != "-":
        schema_checked += page_states(name, key, entry, [squash(default)],
                                      "the plugin's default is")
if schema_checked < 30:
    fail(f"only {schema_checked} schema facts compared: plugin_keys --schema parse broken?")

# ---- 3. the README's table ------------------------------------------------------------

readme = open("README.md").read()
rows = {}  # plugin -> {key: meaning}
cur = None
for line in readme.splitlines():
    m = re.match(r"^\|\s*(`([a-z0-9_]+)`)?\s*\|\s*(`([a-z0-9_]+) = [^`]*`|—)\s*\|(.*)\|\s*$", line)
    if not m:
        continue
    if m.group(2):
        cur = m.group(2)
        rows.setdefault(cur, {})
    if cur and m.group(4):
        rows[cur][m.group(4)] = m.group(5).strip()
for name, keys in sorted(plugin_keys.items()):
    if name not in rows:
        fail(f"the README's plugin settings table has no row for {name}")
    elif set(rows[name]) != set(keys):
        fail(f"the README lists {sorted(rows[name])} for {name}; the plugin accepts "
             f"{sorted(keys)}")
for name in sorted(set(rows) - set(plugin_keys)):
    fail(f"the README's plugin settings table lists {name}, which is no plugin")


def clean(s):
    return squash(s.replace("`", "").replace("\\|", "|"))


checked = 0
for name, keys in sorted(rows.items()):
    for key, meaning in sorted(keys.items()):
        entry = man_plugins.get(name, {}).get(key)
        if entry is None:
            continue
        for lo, hi in re.findall(r"(\d+)\.\.(\d+)", meaning):
            checked += page_states(name, key, entry, [f"{lo}..{hi}"], "the README says")
        for d in re.findall(r"default:? ([^;)]+)", meaning):
            checked += page_states(name, key, entry, [clean(d)], "the README's default is")
if checked < 15:
    fail(f"only {checked} ranges and defaults compared: README table parse broken?")

# The README's example [daemon] block names no key the daemon does not have.
m = re.search(r"```ini\n\[daemon\]\n(.*?)\n\[backend", readme, re.S)
if not m:
    fail("the README's Configuration example has no [daemon] block")
else:
    for k in re.findall(r"^([a-z0-9_]+) =", m.group(1), re.M):
        if k not in code_keys | SPEC_AHEAD:
            fail(f"the README's [daemon] example uses '{k}', which daemon/config.c lacks")

# ---- 4. --help against the pages ----------------------------------------------------------

OPT = r"(?<![\w-])(--?[a-zA-Z][a-zA-Z-]*)"
for prog, page, must_name in [("daemon/hpcd", "hpcd.8", "hpcd(8)"),
                               ("cli/hpcrun", "hpcrun.1", "hpcrun(1)"),
                               ("cli/hpcgen", "hpcgen.1", None)]:
    text = subprocess.run([prog, "--help"], capture_output=True, text=True).stdout
    if len(text) < 100:
        fail(f"{prog} --help printed almost nothing")
    man = rendered.get(page, "")
    help_opts = set()
    base = os.path.basename(prog)
    for line in text.splitlines():
        s = line.strip()
        # The usage lines and the option lines, not the prose.
        if s.startswith("usage:") or s.startswith(base + " ") or s.startswith("-"):
            help_opts |= set(re.findall(OPT, line))
    if len(help_opts) < 3:
        fail(f"found only {sorted(help_opts)} in {prog} --help")
    for o in sorted(help_opts):
        if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", man):
            fail(f"{page} does not mention {o}, which {prog} --help lists")
    man_opts = set()
    for line in section(man, "OPTIONS").splitlines():
        if re.match(r"^       -", line):
            # The tag only: its description follows after two blanks or on the next line.
            man_opts |= set(re.findall(OPT, line[7:].split("  ")[0]))
    if not man_opts:
        fail(f"{page} has no OPTIONS entries")
    for o in sorted(man_opts - help_opts):
        fail(f"{page} lists {o} in OPTIONS, which {prog} --help does not")
    if must_name and must_name not in text:
        fail(f"{prog} --help does not point to {must_name}")

# ---- 5. libhpc(3) ------------------------------------------------------------------------

lds = open("libhpc/libhpc.lds").read()
syms = set(re.findall(r"^\s*(hpc_[a-z_]+);", lds, re.M))
lib = rendered.get("libhpc.3", "")
name_sec = squash(section(lib, "NAME"))
syn = section(lib, "SYNOPSIS")
if len(syms) < 10:
    fail(f"found only {sorted(syms)} in libhpc/libhpc.lds")
for s in sorted(syms):
    if not re.search(r"\b" + s + r"\b", name_sec):
        fail(f"libhpc(3) NAME does not list {s}")
    if not re.search(r"\b" + s + r"\(", syn):
        fail(f"libhpc(3) SYNOPSIS does not declare {s}")

if failures:
    print(f"man_test: {len(failures)} failure(s)")
    sys.exit(1)
print(f"man_test: ok ({len(pages)} pages, {len(code_keys)} [daemon] keys, "
      f"{sum(len(k) for k in plugin_keys.values())} plugin keys of {len(plugin_keys)} plugins, "
      f"{checked} README ranges and defaults, {schema_checked} schema ranges, choices and "
      f"defaults)")
