// Declared settings (plugins/base/settings.h): one parser for the daemon's
// check before open() and the plugin's open(), and the sentences it builds.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

extern "C" {
#include "plugins/base/settings.h"
}

namespace
{

struct Conf {
	uint64_t n, chunk;
	unsigned mode;
	int flag;
	const char *path;
};

const hpc_setting_spec kSchema[] = {
    {"n", HPC_SETTING_UINT, 0, 1, 256, nullptr, nullptr, "2", "how many", offsetof(Conf, n)},
    {"chunk", HPC_SETTING_UINT, 0, 1, 1000, "auto", "rows", "auto", "size", offsetof(Conf, chunk)},
    {"mode", HPC_SETTING_ENUM, 0, 0, 0, "static|dynamic|guided", nullptr, "dynamic", "how",
     offsetof(Conf, mode)},
    {"flag", HPC_SETTING_BOOL, 0, 0, 0, nullptr, nullptr, "false", "whether", offsetof(Conf, flag)},
    {"path", HPC_SETTING_STRING, 0, 0, 0, nullptr, nullptr, "none", "where", offsetof(Conf, path)},
    {nullptr, 0, 0, 0, 0, nullptr, nullptr, nullptr, nullptr, 0},
};

std::string parse_err(const char *key, const char *value)
{
	char err[256] = "";
	Conf c{};
	EXPECT_EQ(
	    hpcb_settings_parse(hpcb_settings_find(kSchema, key), value, &c, err, sizeof(err)),
	    -EINVAL)
	    << key << "=" << value;
	return err;
}

TEST(Settings, ValuesAreStoredByType)
{
	Conf c{};
	char err[256];
	ASSERT_EQ(hpcb_settings_parse(&kSchema[0], "256", &c, err, sizeof(err)), 0) << err;
	EXPECT_EQ(c.n, 256u);
	ASSERT_EQ(hpcb_settings_parse(&kSchema[1], "auto", &c, err, sizeof(err)), 0) << err;
	EXPECT_EQ(c.chunk, 0u); // the word stands for 0
	ASSERT_EQ(hpcb_settings_parse(&kSchema[2], "guided", &c, err, sizeof(err)), 0) << err;
	EXPECT_EQ(c.mode, 2u);
	for (const char *t : {"true", "yes", "on", "1"}) {
		c.flag = 0;
		ASSERT_EQ(hpcb_settings_parse(&kSchema[3], t, &c, err, sizeof(err)), 0) << t;
		EXPECT_EQ(c.flag, 1) << t;
	}
	ASSERT_EQ(hpcb_settings_parse(&kSchema[3], "off", &c, err, sizeof(err)), 0);
	EXPECT_EQ(c.flag, 0);
	ASSERT_EQ(hpcb_settings_parse(&kSchema[4], "/x y", &c, err, sizeof(err)), 0);
	EXPECT_STREQ(c.path, "/x y");
	// A check without storing, as the daemon makes it.
	EXPECT_EQ(hpcb_settings_parse(&kSchema[0], "7", nullptr, err, sizeof(err)), 0);
}

TEST(Settings, BadValuesGetOneSentenceFromTheTable)
{
	EXPECT_EQ(parse_err("n", "0"), "n must be a whole number from 1 to 256, not \"0\".");
	EXPECT_EQ(parse_err("n", "257"), "n must be a whole number from 1 to 256, not \"257\".");
	EXPECT_EQ(parse_err("n", " 2"), "n must be a whole number from 1 to 256, not \" 2\".");
	EXPECT_EQ(parse_err("n", "2x"), "n must be a whole number from 1 to 256, not \"2x\".");
	EXPECT_EQ(parse_err("n", "99999999999999999999999"),
		  "n must be a whole number from 1 to 256, not \"99999999999999999999999\".");
	EXPECT_EQ(parse_err("chunk", "0"),
		  "chunk must be auto or a whole number of rows from 1 to 1000, not \"0\".");
	EXPECT_EQ(parse_err("mode", "fast"),
		  "mode must be static, dynamic or guided, not \"fast\".");
	EXPECT_EQ(parse_err("mode", "stat"),
		  "mode must be static, dynamic or guided, not \"stat\".");
	EXPECT_EQ(parse_err("flag", "maybe"), "flag must be true or false, not \"maybe\".");
}

TEST(Settings, ApplyRefusesUnknownAndRepeatedKeysBlamingThem)
{
	std::vector<hpc_setting> set = {{"n", "3", 10, 0}, {"mode", "static", 11, 0}};
	char err[512] = "";
	hpc_open_args args{};
	args.settings = set.data();
	args.nsettings = (uint32_t)set.size();
	args.err = err;
	args.err_len = sizeof(err);
	args.err_setting = -1;
	Conf c{};
	c.chunk = 77; // a default the section does not touch
	uint64_t given = 0;
	ASSERT_EQ(hpcb_settings_apply(kSchema, &args, &c, &given), 0) << err;
	EXPECT_EQ(c.n, 3u);
	EXPECT_EQ(c.mode, 0u);
	EXPECT_EQ(c.chunk, 77u);
	EXPECT_EQ(given, 0x5u); // schema entries 0 and 2
	EXPECT_EQ(hpcb_settings_index(&args, "mode"), 1);
	EXPECT_EQ(hpcb_settings_index(&args, "chunk"), -1);

	set.push_back({"n", "4", 12, 0});
	args.settings = set.data();
	args.nsettings = (uint32_t)set.size();
	EXPECT_EQ(hpcb_settings_apply(kSchema, &args, &c, nullptr), -EINVAL);
	EXPECT_STREQ(err, "n is set more than once.");
	EXPECT_EQ(args.err_setting, 2);

	set.back() = {"colour", "red", 12, 0};
	EXPECT_EQ(hpcb_settings_apply(kSchema, &args, &c, nullptr), -EINVAL);
	EXPECT_STREQ(err, "no setting \"colour\" here; the keys are n, chunk, mode, flag, path.");
	EXPECT_EQ(args.err_setting, 2);
}

} // namespace
