// Hardware task switching (SDM Vol. 3A chapter 7) as KVM's emulator does it
// (arch/x86/kvm/emulate.c emulator_task_switch / emulator_do_task_switch,
// task_switch_16 / task_switch_32): 16- and 32-bit TSSs, busy bits, the
// back link and EFLAGS.NT, CR3 from a 32-bit TSS, CR0.TS, DR7 local enables
// cleared, an error code pushed on the new task's stack. Legacy protected
// mode only: in IA-32e mode task switches do not exist (callers raise #GP).
#pragma once

#include <cstdint>

#include "cpu/core.h"

namespace skvm::cpu {

enum class TaskSwitchReason : uint8_t { kCall, kIret, kJmp, kGate };

// Switch to the task of TSS selector `tss_sel` (already checked by the
// caller: a TSS descriptor in the GDT, available for CALL/JMP/gate, busy
// for IRET). `return_rip` is the EIP saved in the old task. Returns false
// with signals() set when it faults (before the switch: the old task's
// context; after: the new one's, as the SDM says).
bool task_switch(Cpu& cpu, uint16_t tss_sel, TaskSwitchReason reason, uint64_t return_rip, bool has_error,
                 uint32_t error_code);

// Far CALL/JMP to a TSS descriptor or a task gate (SDM Vol. 2A CALL/JMP,
// TASK-GATE and TASK-STATE-SEGMENT). Returns false when `selector` names
// neither (*handled = false) or after a fault (*handled = true).
bool far_task_transfer(Cpu& cpu, bool is_call, uint16_t selector, uint64_t return_rip, bool* handled);

// IRET with EFLAGS.NT in legacy protected mode: back to the task in the
// current TSS's back link (must be a busy TSS, else #TS(link)).
bool iret_task_return(Cpu& cpu);

}  // namespace skvm::cpu
