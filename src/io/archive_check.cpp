#include "pfedhn/io/archive_check.h"

#include <zlib.h>

#include <cctype>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace pfedhn::io {
namespace {

[[noreturn]] void bad(const std::string& why) {
  throw std::invalid_argument(why);
}

// Little-endian integer of `bytes` bytes at `pos`, after checking it lies inside [0, end).
uint64_t le(const std::string& s, uint64_t pos, int bytes, uint64_t end) {
  if (pos > end || end - pos < static_cast<uint64_t>(bytes)) bad("truncated zip structure");
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(s[pos + i])) << (8 * i);
  }
  return v;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Walks the opcodes of the pickle in [begin, end) until STOP or an opcode this walk does not
// know (LibTorch stops there too, with an error). Checks every length against what is left,
// and simulates the depth of the unpickler's stack and marks: LibTorch 1.13 pops without
// looking (found by fuzz_checkpoint: SEGV on a pickle that pops an empty stack).
void check_pickle(const std::string& s, uint64_t begin, uint64_t end, const std::string& name) {
  uint64_t pos = begin;
  uint64_t memo_size = 0;
  uint64_t depth = 0;           // values on the stack
  std::vector<uint64_t> marks;  // stack depth at each MARK
  auto fail = [&](const std::string& why) { bad(name + ": " + why); };
  auto need = [&](uint64_t n) {
    if (end - pos < n) fail("a pickled length points past the end of the data");
    pos += n;
  };
  auto length = [&](int bytes) {
    const uint64_t n = le(s, pos, bytes, end);
    pos += static_cast<uint64_t>(bytes);
    need(n);
  };
  auto index = [&](int bytes) {
    const uint64_t id = le(s, pos, bytes, end);
    pos += static_cast<uint64_t>(bytes);
    return id;
  };
  // Pops `n` values above the innermost mark, then pushes `push`.
  auto pop_push = [&](uint64_t n, uint64_t push) {
    const uint64_t floor = marks.empty() ? 0 : marks.back();
    if (depth - floor < n) fail("pickle pops more values than it pushed");
    depth = depth - n + push;
  };
  // Pops down to the innermost mark; `below` values must lie under it; then pushes `push`.
  auto pop_mark = [&](uint64_t below, uint64_t push) {
    if (marks.empty()) fail("pickle pops to a mark it never set");
    const uint64_t mark = marks.back();
    marks.pop_back();
    const uint64_t floor = marks.empty() ? 0 : marks.back();
    if (mark - floor < below) fail("pickle pops more values than it pushed");
    depth = mark + push;
  };
  while (pos < end) {
    const auto op = static_cast<unsigned char>(s[pos++]);
    switch (op) {
      case '.':  // STOP
        pop_push(1, 1);
        return;
      case 0x80:  // PROTO
        need(1);
        break;
      case 0x95:  // FRAME
        need(8);
        break;
      case 'X':
      case 'B':
      case 'T':
      case 0x8b:  // BINUNICODE, BINBYTES, BINSTRING, LONG4
        length(4);
        pop_push(0, 1);
        break;
      case 0x8d:
      case 0x8e:
      case 0x96:  // BINUNICODE8, BINBYTES8, BYTEARRAY8
        length(8);
        pop_push(0, 1);
        break;
      case 0x8c:
      case 'C':
      case 'U':
      case 0x8a:  // SHORT_BINUNICODE/BINBYTES/BINSTRING, LONG1
        length(1);
        pop_push(0, 1);
        break;
      case 'c':  // GLOBAL: module and name, each ending in a newline
        for (int line = 0; line < 2; ++line) {
          while (pos < end && s[pos] != '\n') ++pos;
          need(1);
        }
        pop_push(0, 1);
        break;
      case 'q':
      case 'r': {  // BINPUT, LONG_BINPUT
        const uint64_t id = index(op == 'q' ? 1 : 4);
        if (id > memo_size) fail("pickle memo index out of sequence");
        if (id == memo_size) ++memo_size;
        pop_push(1, 1);
        break;
      }
      case 0x94:  // MEMOIZE
        ++memo_size;
        pop_push(1, 1);
        break;
      case 'h':
      case 'j':  // BINGET, LONG_BINGET
        if (index(op == 'h' ? 1 : 4) >= memo_size) fail("pickle reads a memo entry never set");
        pop_push(0, 1);
        break;
      case 'K':  // BININT1
        need(1);
        pop_push(0, 1);
        break;
      case 'M':  // BININT2
        need(2);
        pop_push(0, 1);
        break;
      case 'J':  // BININT
        need(4);
        pop_push(0, 1);
        break;
      case 'G':  // BINFLOAT
        need(8);
        pop_push(0, 1);
        break;
      case ')':
      case ']':
      case '}':
      case 'N':
      case 0x88:
      case 0x89:  // empty containers, consts
        pop_push(0, 1);
        break;
      case '(':  // MARK
        marks.push_back(depth);
        break;
      case 0x85:
      case 'Q':
      case '2':  // TUPLE1, BINPERSID, DUP (peeks one)
        pop_push(1, op == '2' ? 2 : 1);
        break;
      case 0x86:
      case 'R':
      case 'b':
      case 0x81:
      case 0x93:         // TUPLE2, REDUCE, BUILD, NEWOBJ,
        pop_push(2, 1);  // STACK_GLOBAL
        break;
      case 0x87:  // TUPLE3
        pop_push(3, 1);
        break;
      case 's':  // SETITEM: dict, key, value
        pop_push(3, 1);
        break;
      case 'a':  // APPEND: list, value
        pop_push(2, 1);
        break;
      case '0':  // POP
        pop_push(1, 0);
        break;
      case 't':
      case 'l':
      case 'd':  // TUPLE, LIST, DICT
        pop_mark(0, 1);
        break;
      case 'e':
      case 'u':  // APPENDS, SETITEMS: onto the container under the mark
        pop_mark(1, 0);
        break;
      case '1':  // POP_MARK
        pop_mark(0, 0);
        break;
      default:
        return;
    }
  }
}

// The bytes of a zip entry: stored as they are, or raw-deflated (the sizes are checked).
std::string entry_bytes(const std::string& s, uint64_t data, uint64_t compressed,
                        uint64_t uncompressed, bool deflated, const std::string& name) {
  if (!deflated) return s.substr(data, compressed);
  std::string out(uncompressed, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) bad("cannot initialise zlib");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data() + data));
  zs.avail_in = static_cast<uInt>(compressed);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  const bool complete = rc == Z_STREAM_END && zs.total_out == uncompressed;
  inflateEnd(&zs);
  if (!complete) bad("zip entry '" + name + "' does not inflate to its stated size");
  return out;
}

bool is_name(std::string_view t, std::string_view extra = "") {
  if (t.empty()) return false;
  for (const char c : t) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && extra.find(c) == t.npos) {
      return false;
    }
  }
  return true;
}

// A type annotation: Tensor, str, __torch__.___torch_mangle_3.Module, Optional[bool], ...
bool is_type(std::string_view t) {
  const size_t open = t.find('[');
  if (open == t.npos) return is_name(t, ".");
  if (t.back() != ']' || !is_name(t.substr(0, open), ".")) return false;
  return is_name(t.substr(open + 1, t.size() - open - 2), "., ");
}

// ["a", "b/0", ] as TorchScript prints a list of attribute names.
bool is_name_list(std::string_view t) {
  if (t.size() < 2 || t.front() != '[' || t.back() != ']') return false;
  t = t.substr(1, t.size() - 2);
  while (!t.empty()) {
    if (t.front() != '"') return false;
    const size_t close = t.find("\", ");
    if (close == t.npos || !is_name(t.substr(1, close - 1), "./-")) return false;
    t.remove_prefix(close + 3);
  }
  return true;
}

// LibTorch compiles an archive's code/*.py as TorchScript, and its 1.13 compiler can crash on
// malformed source. An archive of pfedhn's only ever declares attributes, so anything beyond
// these line forms is refused:
//   class Module(Module):  |  __parameters__ = [...]  |  __buffers__ = [...]
//   __annotations__ = []   |  __annotations__["name"] = TYPE  |  name : TYPE
void check_code(const std::string& code, const std::string& name) {
  std::istringstream lines(code);
  size_t line_no = 0;
  for (std::string line; std::getline(lines, line);) {
    ++line_no;
    std::string_view l(line);
    bool ok = l.empty();
    if (!ok && l.rfind("class ", 0) == 0 && l.size() > 15 &&
        l.substr(l.size() - 9) == "(Module):") {
      ok = is_name(l.substr(6, l.size() - 15));
    } else if (!ok && l.rfind("  ", 0) == 0) {
      l.remove_prefix(2);
      if (l.rfind("__parameters__ = ", 0) == 0 || l.rfind("__buffers__ = ", 0) == 0) {
        ok = is_name_list(l.substr(l.find('=') + 2));
      } else if (l == "__annotations__ = []") {
        ok = true;
      } else if (l.rfind("__annotations__[\"", 0) == 0) {
        const size_t close = l.find("\"] = ");
        ok = close != l.npos && is_name(l.substr(17, close - 17), "./-") &&
             is_type(l.substr(close + 5));
      } else if (const size_t colon = l.find(" : "); colon != l.npos) {
        ok = is_name(l.substr(0, colon)) && is_type(l.substr(colon + 3));
      }
    }
    if (!ok) {
      bad(name + " line " + std::to_string(line_no) +
          " is not an attribute declaration (pfedhn's archives hold no other code)");
    }
  }
}

}  // namespace

void check_torch_archive(const std::string& s) {
  const uint64_t size = s.size();
  // End of central directory: 22 bytes plus a comment of up to 65535 bytes, at the end.
  constexpr uint64_t kEocd = 22;
  if (size < kEocd) bad("not a zip archive (too short)");
  uint64_t eocd = size - kEocd;
  const uint64_t lowest = size >= kEocd + 65535 ? size - kEocd - 65535 : 0;
  while (le(s, eocd, 4, size) != 0x06054b50) {
    if (eocd == lowest) bad("not a zip archive (no end of central directory)");
    --eocd;
  }
  const uint64_t entries = le(s, eocd + 10, 2, size);
  const uint64_t dir_size = le(s, eocd + 12, 4, size);
  const uint64_t dir_offset = le(s, eocd + 16, 4, size);
  if (entries == 0xffff || dir_size == 0xffffffff || dir_offset == 0xffffffff) {
    bad("zip64 archive (pfedhn never writes one)");
  }
  if (dir_offset > eocd || eocd - dir_offset < dir_size) bad("zip directory out of bounds");
  const uint64_t dir_end = dir_offset + dir_size;
  uint64_t pos = dir_offset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (le(s, pos, 4, dir_end) != 0x02014b50) bad("corrupt zip directory entry");
    const uint64_t method = le(s, pos + 10, 2, dir_end);
    const uint64_t compressed = le(s, pos + 20, 4, dir_end);
    const uint64_t uncompressed = le(s, pos + 24, 4, dir_end);
    const uint64_t name_len = le(s, pos + 28, 2, dir_end);
    const uint64_t extra_len = le(s, pos + 30, 2, dir_end);
    const uint64_t comment_len = le(s, pos + 32, 2, dir_end);
    const uint64_t local = le(s, pos + 42, 4, dir_end);
    const uint64_t header_end = pos + 46 + name_len + extra_len + comment_len;
    if (header_end > dir_end) bad("corrupt zip directory entry");
    const std::string name = s.substr(pos + 46, name_len);
    pos = header_end;
    // Stored, or deflated (LibTorch compresses code files); deflate expands at most 1032:1.
    const bool stored = method == 0 && compressed == uncompressed;
    const bool deflated = method == 8 && uncompressed / 1032 <= compressed;
    if (!(stored || (deflated && !ends_with(name, "pkl")))) {
      bad("zip entry '" + name + "' has an impossible size or compression");
    }
    // The local header repeats the name and has its own extra field (LibTorch's alignment).
    if (le(s, local, 4, dir_offset) != 0x04034b50) bad("corrupt zip entry '" + name + "'");
    const uint64_t data =
        local + 30 + le(s, local + 26, 2, dir_offset) + le(s, local + 28, 2, dir_offset);
    if (data > dir_offset || dir_offset - data < compressed) {
      bad("zip entry '" + name + "' extends past the end of the archive");
    }
    if (ends_with(name, "pkl")) {  // data.pkl, constants.pkl, *.debug_pkl: stored
      check_pickle(s, data, data + compressed, name);
    } else if (ends_with(name, ".py") && name.find("/code/") != std::string::npos) {
      check_code(entry_bytes(s, data, compressed, uncompressed, deflated, name), name);
    }
  }
}

}  // namespace pfedhn::io
