// cvp/isa.h: which instruction set the kernels run, from the CPU's features and CVPBENCH_KERNEL.
// The CPU is faked (the `supports` argument), so every refusal is tested on any machine.
#include "cvp/isa.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using cvp::Isa;

bool only_generic(Isa isa) { return isa == Isa::generic; }
bool up_to_avx2(Isa isa) { return isa != Isa::avx512; }
bool everything(Isa) { return true; }

TEST(Isa, UnsetPicksTheWidestSupported) {
  EXPECT_EQ(cvp::choose_isa(nullptr, everything).isa, Isa::avx512);
  EXPECT_EQ(cvp::choose_isa("", up_to_avx2).isa, Isa::avx2);
  EXPECT_EQ(cvp::choose_isa(nullptr, only_generic).isa, Isa::generic);
  EXPECT_FALSE(cvp::choose_isa(nullptr, only_generic).refusal);
}

TEST(Isa, ForcedPathIsHonouredWhereSupported) {
  for (const char* name : {"generic", "avx2", "avx512"}) {
    const cvp::IsaChoice choice = cvp::choose_isa(name, everything);
    EXPECT_FALSE(choice.refusal) << name;
    EXPECT_STREQ(cvp::to_string(choice.isa), name);
  }
  EXPECT_EQ(cvp::choose_isa("generic", only_generic).isa, Isa::generic);
}

TEST(Isa, ForcedPathTheCpuLacksIsRefusedInOneSentence) {
  const cvp::IsaChoice avx512 = cvp::choose_isa("avx512", up_to_avx2);
  ASSERT_TRUE(avx512.refusal);
  EXPECT_EQ(*avx512.refusal,
            "CVPBENCH_KERNEL=avx512: this CPU lacks AVX-512F, so that path cannot run here.");
  const cvp::IsaChoice avx2 = cvp::choose_isa("avx2", only_generic);
  ASSERT_TRUE(avx2.refusal);
  EXPECT_NE(avx2.refusal->find("lacks AVX2 and FMA"), std::string::npos) << *avx2.refusal;
}

TEST(Isa, UnknownPathIsRefused) {
  for (const char* name : {"sse2", "AVX2", "avx", "avx2 ", "native"}) {
    const cvp::IsaChoice choice = cvp::choose_isa(name, everything);
    ASSERT_TRUE(choice.refusal) << name;
    EXPECT_NE(choice.refusal->find("choose generic, avx2 or avx512"), std::string::npos);
  }
}

TEST(Isa, NamesRoundTrip) {
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
    EXPECT_EQ(cvp::parse_isa(cvp::to_string(isa)), isa);
  }
  EXPECT_FALSE(cvp::parse_isa("avx1024"));
}

TEST(Isa, ThisCpuRunsGenericAndItsBest) {
  EXPECT_TRUE(cvp::cpu_supports(Isa::generic));
  EXPECT_TRUE(cvp::cpu_supports(cvp::best_isa()));
  // The best is the widest this CPU runs.
  if (cvp::cpu_supports(Isa::avx512)) {
    EXPECT_EQ(cvp::best_isa(), Isa::avx512);
  }
  if (!cvp::cpu_supports(Isa::avx512) && cvp::cpu_supports(Isa::avx2)) {
    EXPECT_EQ(cvp::best_isa(), Isa::avx2);
  }
}

}  // namespace
