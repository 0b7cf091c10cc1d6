; Virtual-8086 mode round trip (SDM Vol. 3B chapter 20): IRETD at CPL 0
; with VM = 1 in the popped EFLAGS enters V86 at 0x1000:(v86_code - 0x10000) (SDM Vol. 2A IRET,
; RETURN-TO-VIRTUAL-8086-MODE) with ES/DS/FS/GS from the frame. There, a
; load through DS (selector << 4) and HLT, which faults (#GP(0), CPL 3),
; back to a 32-bit ring-0 handler on the TSS stack: the frame holds the V86
; GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP and the error code, and the data
; segment registers are null afterwards.
; The host runs this guest in KVM's emulator, whose IRET handles real mode
; only (emulate.c em_iret: X86EMUL_UNHANDLEABLE, KVM_EXIT_INTERNAL_ERROR).
; backends: soft
; mode: prot32
; expect: rbx=0 rax=0x5a rcx=0x1000 rdx=0x222 rsi=0x0 rdi=0x444 rbp=0
; expect-exit: hlt
bits 32
org 0x10000
%define ABS(l) ((l) - $$ + 0x10000)
  lgdt [gdtr]
  lidt [idtr]
  mov ax, 0x18
  ltr ax
  mov byte [0x2230], 0x5a     ; DS = 0x222 in V86: linear 0x2230
  mov esp, frame
  iretd
ring0:                          ; #GP handler (32-bit interrupt gate)
  mov ebx, [esp + 4]          ; EIP in V86: the HLT
  sub ebx, v86_code + 3 - 0x10000
  mov ecx, [esp + 8]          ; CS
  mov edx, [esp + 28]         ; DS
  mov edi, [esp + 36]         ; GS
  mov esi, [esp]              ; error code 0
  mov bp, ds                  ; null now
  movzx ebp, bp
  hlt

bits 16
v86_code:
  mov al, [0x10]              ; DS = 0x222: linear 0x2230
  hlt                         ; #GP(0): CPL 3
bits 32
align 8
gdt:
  dq 0
  dq 0x00cf9a000000ffff       ; 0x08 code
  dq 0x00cf92000000ffff       ; 0x10 data
  dw 0x67, ABS(tss) & 0xffff  ; 0x18 32-bit TSS
  db (ABS(tss) >> 16) & 0xff, 0x89, 0, 0
gdtr:
  dw gdtr - gdt - 1
  dd gdt
idt:
  times 13 dq 0
  dw ABS(ring0) & 0xffff, 0x08, 0x8e00, ABS(ring0) >> 16   ; vector 13
idtr:
  dw idtr - idt - 1
  dd idt
align 4
tss:
  dd 0, 0x30000, 0x10          ; link, ESP0, SS0
  times 22 dd 0
  dw 0, 0x68                   ; I/O map base beyond the limit
align 4
frame:
  dd v86_code - 0x10000, 0x1000, 0x23002, 0x1000, 0x800, 0x111, 0x222, 0x333, 0x444
