// Unit tests of signalbin-server's configuration file (server-config.h): every
// key read, command-line-style names, and a clear refusal of anything else.
#include "server-config.h"

#include <gst/check/gstcheck.h>

#include <string>

using signalbin::Expected;
using signalbin::server::read_config_text;
using signalbin::server::ServerOptions;

namespace {

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

// Expects `text` refused with a message holding `part`, and options untouched.
void expect_refused(const char* text, const std::string& part)
{
    ServerOptions options;
    options.port = 1234;
    Expected<bool> read = read_config_text(text, "test.conf", options);
    fail_unless(!read.ok(), "accepted:\n%s", text);
    fail_unless(contains(read.error(), part) && contains(read.error(), "test.conf"),
                "the error for\n%s\nsays \"%s\", not \"%s\" and the file's name", text, read.error().c_str(),
                part.c_str());
    fail_unless(options.port == 1234 && options.host == "127.0.0.1", "a refused file changed the options");
}

} // namespace

GST_START_TEST(test_every_key)
{
    ServerOptions options;
    Expected<bool> read = read_config_text("# signalbin-server\n"
                                           "[server]\n"
                                           "host = 0.0.0.0\n"
                                           "port=9443\n"
                                           "cert=/etc/ssl/cert.pem\n"
                                           "key=/etc/ssl/key.pem\n"
                                           "token=s3cret\n"
                                           "web-root=/usr/share/signalbin/web\n"
                                           "max-peers=50\n"
                                           "max-message-size=65536\n"
                                           "rate-limit=12.5\n"
                                           "rate-burst=30\n",
                                           "test.conf", options);
    fail_unless(read.ok(), "%s", read.ok() ? "" : read.error().c_str());
    fail_unless(options.host == "0.0.0.0", "host %s", options.host.c_str());
    fail_unless(options.port == 9443, "port %u", options.port);
    fail_unless(options.cert_file == "/etc/ssl/cert.pem" && options.key_file == "/etc/ssl/key.pem", "cert/key");
    fail_unless(options.token == "s3cret", "token %s", options.token.c_str());
    fail_unless(options.web_root == "/usr/share/signalbin/web", "web-root %s", options.web_root.c_str());
    fail_unless(options.max_peers == 50 && options.max_message_bytes == 65536, "limits");
    fail_unless(options.rate_limit == 12.5 && options.rate_burst == 30, "rates %f %f", options.rate_limit,
                options.rate_burst);
}
GST_END_TEST;

GST_START_TEST(test_absent_keys_keep_defaults)
{
    ServerOptions defaults;
    ServerOptions options;
    fail_unless(read_config_text("[server]\nport=8000\n", "test.conf", options).ok(), "refused");
    fail_unless(options.port == 8000, "port %u", options.port);
    fail_unless(options.host == defaults.host && options.max_peers == defaults.max_peers &&
                    options.rate_limit == defaults.rate_limit && options.cert_file.empty(),
                "a key absent from the file changed a default");

    // The packaged file is all comments: nothing changes.
    ServerOptions empty;
    fail_unless(read_config_text("# every line commented out\n#[server]\n#port=8443\n", "test.conf", empty).ok(),
                "a file of comments was refused");
    fail_unless(empty.port == defaults.port, "port %u", empty.port);
    fail_unless(read_config_text("[server]\n", "test.conf", empty).ok(), "an empty group was refused");
}
GST_END_TEST;

GST_START_TEST(test_refusals)
{
    expect_refused("[server]\nprot=8443\n", "unknown key \"prot\"");
    expect_refused("[server]\ncertificate=/x\n", "known: host, port, cert");
    expect_refused("[sever]\nport=8443\n", "unknown group [sever]");
    expect_refused("port=8443\n", "test.conf");
    expect_refused("[server]\nport=99999\n", "port must be a whole number from 0 to 65535");
    expect_refused("[server]\nport=84x3\n", "not \"84x3\"");
    expect_refused("[server]\nport=-1\n", "port must be");
    expect_refused("[server]\nmax-peers=0\n", "max-peers must be");
    expect_refused("[server]\nrate-limit=fast\n", "rate-limit must be a number above 0");
    expect_refused("[server]\nrate-limit=0\n", "rate-limit must be a number above 0, not \"0\"");
    expect_refused("[server]\nrate-burst=0.5\n", "rate-burst must be a number of at least 1");
    // A later error leaves the earlier keys unapplied too.
    expect_refused("[server]\nport=1\nmax-message-size=0\n", "max-message-size");
}
GST_END_TEST;

// The file the package installs, every line uncommented, is valid as it is.
GST_START_TEST(test_shipped_file)
{
    char* contents = nullptr;
    fail_unless(g_file_get_contents(SIGNALBIN_SHIPPED_CONFIG, &contents, nullptr, nullptr), "cannot read %s",
                SIGNALBIN_SHIPPED_CONFIG);
    std::string text(contents);
    g_free(contents);
    ServerOptions as_shipped;
    Expected<bool> read = read_config_text(text, SIGNALBIN_SHIPPED_CONFIG, as_shipped);
    fail_unless(read.ok(), "%s", read.ok() ? "" : read.error().c_str());
    fail_unless(as_shipped.port == ServerOptions().port, "the shipped file changes a default");

    std::string uncommented;
    for (size_t start = 0; start < text.size();) {
        size_t end = text.find('\n', start);
        std::string line = text.substr(start, end - start);
        if (line.size() > 1 && line[0] == '#' && line.find('=') != std::string::npos && line.find(' ') == std::string::npos)
            line = line.substr(1);
        uncommented += line + "\n";
        start = end == std::string::npos ? text.size() : end + 1;
    }
    ServerOptions all;
    read = read_config_text(uncommented, SIGNALBIN_SHIPPED_CONFIG, all);
    fail_unless(read.ok(), "uncommented, the shipped file is refused: %s", read.ok() ? "" : read.error().c_str());
    fail_unless(all.cert_file == "/etc/signalbin/cert.pem" && all.web_root == "/usr/share/signalbin/web",
                "the shipped examples were not all read");
}
GST_END_TEST;

GST_START_TEST(test_unreadable_file)
{
    ServerOptions options;
    Expected<bool> read = signalbin::server::read_config_file("/nonexistent/signalbin.conf", options);
    fail_unless(!read.ok(), "a missing file was accepted");
    fail_unless(contains(read.error(), "/nonexistent/signalbin.conf"), "the error does not name the file: %s",
                read.error().c_str());
}
GST_END_TEST;

static Suite* server_config_suite()
{
    Suite* s = suite_create("server-config");
    TCase* tc = tcase_create("general");
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_every_key);
    tcase_add_test(tc, test_absent_keys_keep_defaults);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_shipped_file);
    tcase_add_test(tc, test_unreadable_file);
    return s;
}

GST_CHECK_MAIN(server_config);
