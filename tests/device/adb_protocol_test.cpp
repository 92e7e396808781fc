// The adb wire formats: framing, status replies, device listings, shell v2 packets (split at
// every byte boundary) and sync messages, on fixed cases and fresh random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"
#include "darkroom/adb/protocol.h"

using namespace darkroom::adb;

using darkroom::test::randomBytes;
using darkroom::test::rng;

namespace {

template <typename F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "(no ProtocolError)";
}

}  // namespace

TEST(AdbFraming, EncodesLowercaseHexLength) {
  EXPECT_EQ(encodeRequest("host:version"), "000chost:version");
  EXPECT_EQ(encodeRequest(""), "0000");
  EXPECT_EQ(encodeRequest(std::string(0xabc, 'x')).substr(0, 4), "0abc");
  EXPECT_EQ(encodeRequest(std::string(0xffff, 'x')).size(), 0xffffu + 4);
  EXPECT_THROW(encodeRequest(std::string(0x10000, 'x')), ProtocolError);
}

TEST(AdbFraming, ParsesEveryLengthBackAndAcceptsUppercase) {
  for (std::size_t n = 0; n <= 0xffff; n += 1 + (n % 97)) {
    EXPECT_EQ(parseLengthPrefix(encodeRequest(std::string(n, 'a')).substr(0, 4), 0xffff), n);
  }
  EXPECT_EQ(parseLengthPrefix("00FF"), 255u);
  EXPECT_EQ(parseLengthPrefix("ffff", 0xffff), 0xffffu);
}

TEST(AdbFraming, RejectsBadHexShortInputAndOversizedLengths) {
  EXPECT_NE(errorOf([] { parseLengthPrefix("00zz"); }).find("\"00zz\""), std::string::npos);
  EXPECT_NE(errorOf([] { parseLengthPrefix("OKAY"); }).find("OKAY"), std::string::npos);
  EXPECT_THROW(parseLengthPrefix("0x10"), ProtocolError);
  EXPECT_THROW(parseLengthPrefix(" 123"), ProtocolError);
  EXPECT_THROW(parseLengthPrefix("-001"), ProtocolError);
  EXPECT_THROW(parseLengthPrefix(std::string("\0\0\0\0", 4)), ProtocolError);
  EXPECT_NE(errorOf([] { parseLengthPrefix("12"); }).find("2 bytes"), std::string::npos);
  EXPECT_THROW(parseLengthPrefix(""), ProtocolError);
  EXPECT_THROW(parseLengthPrefix("00100"), ProtocolError);
  const std::string over = errorOf([] { parseLengthPrefix("0101", 256); });
  EXPECT_NE(over.find("257"), std::string::npos) << over;
  EXPECT_NE(over.find("256"), std::string::npos) << over;
  EXPECT_EQ(parseLengthPrefix("0100", 256), 256u);
}

TEST(AdbFraming, RandomFourBytesParseOnlyWhenHex) {
  for (int i = 0; i < 20000; ++i) {
    const std::string s = randomBytes(4);
    const bool hex = std::all_of(s.begin(), s.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) != 0;
    });
    if (hex) {
      EXPECT_EQ(parseLengthPrefix(s, 0xffff), std::stoul(s, nullptr, 16));
    } else {
      EXPECT_THROW(parseLengthPrefix(s, 0xffff), ProtocolError) << printableBytes(s);
    }
  }
}

TEST(AdbStatus, OkayFailAndAnythingElse) {
  EXPECT_TRUE(parseStatus("OKAY"));
  EXPECT_FALSE(parseStatus("FAIL"));
  const std::string e = errorOf([] { parseStatus("okay"); });
  EXPECT_NE(e.find("\"okay\""), std::string::npos) << e;
  EXPECT_THROW(parseStatus("OKA"), ProtocolError);
  EXPECT_THROW(parseStatus(std::string("\x00KAY", 4)), ProtocolError);
  EXPECT_EQ(encodeFail("device 'x' not found"), "FAIL0014device 'x' not found");
}

TEST(AdbStatus, PrintableBytesEscapesAndTruncates) {
  EXPECT_EQ(printableBytes(std::string("a\0\n\"\\\xff", 6)), "\"a\\x00\\n\\\"\\\\\\xff\"");
  const std::string long_text = printableBytes(std::string(100, 'x'), 10);
  EXPECT_EQ(long_text, "\"xxxxxxxxxx\"... (100 bytes)");
}

TEST(AdbDeviceList, ShortAndLongListings) {
  const auto devices = parseDeviceList(
      "emulator-5554\tdevice\n"
      "0123456789ABCDEF       unauthorized usb:1-4 transport_id:3\n"
      "127.0.0.1:5555         device product:sdk_gphone64 model:Pixel_8 device:husky "
      "transport_id:7\n");
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices[0].serial, "emulator-5554");
  EXPECT_EQ(devices[0].state, "device");
  EXPECT_TRUE(devices[0].attributes.empty());
  EXPECT_EQ(devices[1].serial, "0123456789ABCDEF");
  EXPECT_EQ(devices[1].state, "unauthorized");
  EXPECT_EQ(devices[1].attributes.at("usb"), "1-4");
  EXPECT_EQ(devices[1].attributes.at("transport_id"), "3");
  EXPECT_EQ(devices[2].serial, "127.0.0.1:5555");
  EXPECT_EQ(devices[2].attributes.at("model"), "Pixel_8");
  EXPECT_EQ(devices[2].attributes.at("product"), "sdk_gphone64");
  EXPECT_EQ(devices[2].attributes.at("device"), "husky");
  EXPECT_EQ(devices[2].attributes.at("transport_id"), "7");
}

TEST(AdbDeviceList, OddSpacingEmptyLinesAndCrLf) {
  const auto devices = parseDeviceList(
      "\n\n  \t\nabc \t  offline\t\tmodel:X  \r\n"
      "def    device\n"
      "ghi\t  recovery   a:b:c\n"
      "(no serial number)     device transport_id:2\n"
      "jkl\tdevice");  // no final newline
  ASSERT_EQ(devices.size(), 5u);
  EXPECT_EQ(devices[0].serial, "abc");
  EXPECT_EQ(devices[0].state, "offline");
  EXPECT_EQ(devices[0].attributes.at("model"), "X");
  EXPECT_EQ(devices[1].serial, "def");
  EXPECT_EQ(devices[1].state, "device");
  EXPECT_EQ(devices[2].state, "recovery");
  EXPECT_EQ(devices[2].attributes.at("a"), "b:c");  // the value keeps later colons
  EXPECT_EQ(devices[3].serial, "(no serial number)");
  EXPECT_EQ(devices[3].attributes.at("transport_id"), "2");
  EXPECT_EQ(devices[4].serial, "jkl");
  EXPECT_TRUE(parseDeviceList("").empty());
  EXPECT_TRUE(parseDeviceList("\n \n").empty());
}

TEST(AdbDeviceList, NoPermissionsKeepsTheStateAndDropsTheHelpText) {
  const auto devices = parseDeviceList(
      "0123 no permissions (user in plugdev group; are your udev rules wrong?); see "
      "[http://developer.android.com/tools/device.html] usb:1-1 transport_id:1\n");
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].state, "no permissions");
  EXPECT_EQ(devices[0].attributes.at("usb"), "1-1");
  EXPECT_EQ(devices[0].attributes.size(), 2u);
}

TEST(AdbDeviceList, LineWithoutStateIsAnError) {
  const std::string e = errorOf([] { parseDeviceList("good\tdevice\nlonely-serial\n"); });
  EXPECT_NE(e.find("lonely-serial"), std::string::npos) << e;
  EXPECT_NE(e.find("state"), std::string::npos) << e;
  EXPECT_THROW(parseDeviceList("serial\t \n"), ProtocolError);
}

TEST(AdbDeviceList, FormatThenParseGivesTheSameEntriesOnRandomLists) {
  const std::string alphabet = "abcXYZ019._-:@";
  auto word = [&](std::size_t min_len, bool allow_colon) {
    std::string w;
    const std::size_t n = min_len + rng()() % 8;
    while (w.size() < n) {
      const char c = alphabet[rng()() % alphabet.size()];
      if (c == ':' && !allow_colon) continue;
      w += c;
    }
    return w;
  };
  for (int round = 0; round < 500; ++round) {
    std::vector<DeviceEntry> in(rng()() % 5);
    for (auto& d : in) {
      d.serial = word(1, true);
      do d.state = word(1, false); while (d.state == "no");
      const std::size_t attrs = rng()() % 5;
      for (std::size_t a = 0; a < attrs; ++a) {
        d.attributes[word(1, false)] = (rng()() % 4 == 0) ? "" : word(0, true);
      }
    }
    EXPECT_EQ(parseDeviceList(formatDeviceList(in)), in) << formatDeviceList(in);
  }
}

TEST(AdbShellV2, EncodesIdLengthLittleEndianAndPayload) {
  const std::string p = encodeShellPacket(ShellPacketId::Stderr, "hi");
  EXPECT_EQ(p, std::string("\x02\x02\x00\x00\x00hi", 7));
  const std::string big = encodeShellPacket(ShellPacketId::Stdout, std::string(0x10203, 'z'));
  EXPECT_EQ(big.substr(0, 5), std::string("\x01\x03\x02\x01\x00", 5));
}

TEST(AdbShellV2, PacketsSplitAtEveryByteBoundaryOnRandomData) {
  for (int round = 0; round < 20; ++round) {
    std::vector<ShellPacket> sent;
    std::string stream;
    const int count = 1 + static_cast<int>(rng()() % 6);
    for (int i = 0; i < count; ++i) {
      ShellPacket p;
      p.id = static_cast<ShellPacketId>(rng()() % 6);
      const std::size_t sizes[] = {0, 1, 4, 5, 17, 300};
      p.data = randomBytes(sizes[rng()() % 6]);
      stream += encodeShellPacket(p.id, p.data);
      sent.push_back(p);
    }
    // Two pieces, split at every position.
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      ShellPacketParser parser;
      std::vector<ShellPacket> got;
      parser.feed(std::string_view(stream).substr(0, cut));
      while (auto p = parser.next()) got.push_back(*p);
      parser.feed(std::string_view(stream).substr(cut));
      while (auto p = parser.next()) got.push_back(*p);
      ASSERT_EQ(got.size(), sent.size()) << "cut at " << cut;
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].id, sent[i].id);
        EXPECT_EQ(got[i].data, sent[i].data);
      }
      EXPECT_EQ(parser.buffered(), 0u);
    }
    // One byte at a time.
    ShellPacketParser parser;
    std::size_t seen = 0;
    for (char c : stream) {
      parser.feed(std::string_view(&c, 1));
      while (auto p = parser.next()) {
        ASSERT_LT(seen, sent.size());
        EXPECT_EQ(p->data, sent[seen].data);
        ++seen;
      }
    }
    EXPECT_EQ(seen, sent.size());
  }
}

TEST(AdbShellV2, LongStreamsDoNotKeepConsumedBytes) {
  ShellPacketParser parser;
  const std::string packet = encodeShellPacket(ShellPacketId::Stdout, std::string(1000, 'q'));
  for (int i = 0; i < 2000; ++i) {
    parser.feed(packet);
    ASSERT_TRUE(parser.next().has_value());
    EXPECT_LE(parser.buffered(), packet.size());
  }
  EXPECT_FALSE(parser.next().has_value());
}

TEST(AdbShellV2, UnknownIdsAndOversizedLengthsAreRejectedAsSoonAsTheHeaderIsComplete) {
  {
    ShellPacketParser parser;
    parser.feed(std::string("\x07\x01\x00", 3));  // header not complete yet
    const std::string e = errorOf([&] { parser.feed(std::string("\x00\x00", 2)); });
    EXPECT_NE(e.find("unknown id 7"), std::string::npos) << e;
  }
  {
    ShellPacketParser parser(100);
    const std::string e = errorOf([&] { parser.feed(std::string("\x01\x65\x00\x00\x00", 5)); });
    EXPECT_NE(e.find("101"), std::string::npos) << e;
    EXPECT_NE(e.find("100"), std::string::npos) << e;
  }
  {
    // A bad header right after a good packet: the good packet comes out first.
    ShellPacketParser parser;
    parser.feed(encodeShellPacket(ShellPacketId::Exit, "\x01") + std::string("\xff\0\0\0\0", 5));
    auto p = parser.next();
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->id, ShellPacketId::Exit);
    EXPECT_THROW(parser.next(), ProtocolError);
  }
  {
    ShellPacketParser parser;
    EXPECT_THROW(parser.feed(std::string("\x01\xff\xff\xff\xff", 5)), ProtocolError);
  }
  {
    // A packet exactly at the limit is fine.
    ShellPacketParser parser(3);
    parser.feed(encodeShellPacket(ShellPacketId::Stdout, "abc"));
    auto p = parser.next();
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->data, "abc");
  }
}

TEST(AdbSync, HeadersRoundTripAndRejectShortOrBadIds) {
  for (const char* id : {"DATA", "DONE", "OKAY", "FAIL", "SEND", "RECV", "STAT", "STA2", "QUIT"}) {
    const std::uint32_t arg = static_cast<std::uint32_t>(rng()());
    const std::string h = encodeSyncHeader(id, arg);
    ASSERT_EQ(h.size(), kSyncHeaderBytes);
    const SyncHeader back = parseSyncHeader(h);
    EXPECT_EQ(back.id, id);
    EXPECT_EQ(back.arg, arg);
  }
  EXPECT_EQ(encodeSyncHeader("DONE", 0x01020304), std::string("DONE\x04\x03\x02\x01", 8));
  const std::string e = errorOf([] { parseSyncHeader("DATA\x01"); });
  EXPECT_NE(e.find("5 of 8"), std::string::npos) << e;
  EXPECT_THROW(parseSyncHeader(""), ProtocolError);
  EXPECT_THROW(parseSyncHeader(std::string("da\0a\0\0\0\0", 8)), ProtocolError);
  EXPECT_THROW(encodeSyncHeader("DAT", 0), ProtocolError);
  EXPECT_THROW(encodeSyncHeader("data", 0), ProtocolError);
}

TEST(AdbSync, SendRecvAndStatRequests) {
  EXPECT_EQ(encodeSyncSend("/data/local/tmp/a b", 0100755),
            std::string("SEND\x19\0\0\0/data/local/tmp/a b,33261", 33));
  EXPECT_EQ(encodeSyncRequest("RECV", "/x"), std::string("RECV\x02\0\0\0/x", 10));
  EXPECT_NO_THROW(encodeSyncRequest("STAT", std::string(kSyncPathMax, 'p')));
  EXPECT_THROW(encodeSyncRequest("STAT", std::string(kSyncPathMax + 1, 'p')), ProtocolError);
  EXPECT_THROW(encodeSyncSend(std::string(kSyncPathMax - 3, 'p'), 0644), ProtocolError);
}

TEST(AdbSync, StatV1RoundTripsOnRandomValuesAndRejectsShortReplies) {
  for (int i = 0; i < 1000; ++i) {
    SyncStat s;
    s.mode = static_cast<std::uint32_t>(rng()());
    s.size = static_cast<std::uint32_t>(rng()());
    s.mtime = static_cast<std::uint32_t>(rng()());
    const std::string wire = encodeSyncStatV1(s);
    ASSERT_EQ(wire.size(), 16u);
    EXPECT_EQ(parseSyncHeader(wire).id, "STAT");
    const SyncStat back = parseSyncStatV1(std::string_view(wire).substr(4));
    EXPECT_EQ(back.mode, s.mode);
    EXPECT_EQ(back.size, s.size);
    EXPECT_EQ(back.mtime, s.mtime);
  }
  EXPECT_THROW(parseSyncStatV1(std::string(11, '\0')), ProtocolError);
}

TEST(AdbSync, Le32HelpersAgreeOnRandomValues) {
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t v = static_cast<std::uint32_t>(rng()());
    std::string s;
    appendLe32(s, v);
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(readLe32(reinterpret_cast<const unsigned char*>(s.data())), v);
    EXPECT_EQ(static_cast<unsigned char>(s[0]), v & 0xff);
  }
}
