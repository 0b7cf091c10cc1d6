; Far CALL through a 32-bit call gate from CPL 3 (SDM Vol. 2A CALL,
; MORE-PRIVILEGE): the ring-0 stack comes from the TSS, two parameters are
; copied from the caller's stack, and the frame holds the caller's SS:ESP
; and CS:EIP. The ring-0 target records them and halts.
; The host's emulator raises #GP for call gates (emulate.c
; __load_segment_descriptor accepts only code segments for CS).
; backends: soft
; mode: prot32
; expect: rax=0x2222 rbx=0x1111 rcx=0x2b rdx=0x33 rsi=0x7ff8 rdi=0x8 rbp=0x10
; expect-exit: hlt
bits 32
org 0x10000
%define ABS(l) ((l) - $$ + 0x10000)
  lgdt [gdtr]
  mov ax, 0x18
  ltr ax
  push dword 0x33                 ; SS (ring 3)
  push dword 0x8000               ; ESP
  push dword 2                    ; EFLAGS
  push dword 0x2b                 ; CS (ring 3)
  push dword ABS(ring3)
  iretd
ring3:
  push dword 0x1111
  push dword 0x2222
  call 0x23:0                     ; the call gate (RPL 3)
ring0:
  mov eax, [esp + 8]              ; parameter 0 (the caller's [ESP])
  mov ebx, [esp + 12]             ; parameter 1
  mov ecx, [esp + 4]              ; caller's CS
  mov edx, [esp + 20]             ; caller's SS
  mov esi, [esp + 16]             ; caller's ESP
  mov di, cs
  movzx edi, di
  mov bp, ss
  movzx ebp, bp
  hlt
align 8
gdt:
  dq 0
  dq 0x00cf9a000000ffff           ; 0x08 ring-0 code
  dq 0x00cf92000000ffff           ; 0x10 ring-0 data
  dw 0x67, ABS(tss) & 0xffff      ; 0x18 TSS
  db (ABS(tss) >> 16) & 0xff, 0x89, 0, 0
  dw ABS(ring0) & 0xffff, 0x08    ; 0x20 call gate, DPL 3, 2 parameters
  db 2, 0xec
  dw ABS(ring0) >> 16
  dq 0x00cffa000000ffff           ; 0x28 ring-3 code
  dq 0x00cff2000000ffff           ; 0x30 ring-3 data
gdtr:
  dw gdtr - gdt - 1
  dd gdt
align 4
tss:
  dd 0, 0x30000, 0x10             ; link, ESP0, SS0
  times 23 dd 0
