; The guest of bench/cpu_compare: one flat image that QEMU boots as a
; multiboot kernel (-kernel, "a.out kludge" header) and softkvm runs from the
; same 32-bit entry state (flat protected mode, paging off). It builds an
; identity map of 0..64 MiB with 4 KiB pages, enters long mode, runs the
; workload selected in `params` (patched by cpu_compare) and writes port
; 0xf4 (QEMU's isa-debug-exit; a KVM_EXIT_IO on softkvm).
bits 32
org 0x100000
%include "loops.inc"

kMbMagic equ 0x1badb002
kMbFlags equ 0x00010000          ; addresses in the header (a.out kludge)
kPt equ 0x400000                 ; 32 page tables: 0..64 MiB, 4 KiB pages
kPd equ 0x420000
kPdpt equ 0x421000
kPml4 equ 0x422000

mb_header:
  dd kMbMagic, kMbFlags, -(kMbMagic + kMbFlags)
  dd mb_header, 0x100000, image_end, image_end, entry32
params:                          ; offset 32: workload (0 a, 1 b, 2 b2, 3 c, 4 c2), iterations
  dd 0
  dq 0

entry32:
  cli
  mov edi, kPt
  mov eax, 3
  mov ecx, 16384
.pt:
  mov [edi], eax
  mov dword [edi + 4], 0
  add eax, 4096
  add edi, 8
  loop .pt
  mov edi, kPd
  mov eax, kPt + 3
  mov ecx, 32
.pd:
  mov [edi], eax
  mov dword [edi + 4], 0
  add eax, 4096
  add edi, 8
  loop .pd
  mov dword [kPdpt], kPd + 3
  mov dword [kPdpt + 4], 0
  mov dword [kPml4], kPdpt + 3
  mov dword [kPml4 + 4], 0
  mov eax, cr4
  or eax, 0x20                   ; PAE
  mov cr4, eax
  mov eax, kPml4
  mov cr3, eax
  mov ecx, 0xc0000080            ; EFER.LME
  rdmsr
  or eax, 0x100
  wrmsr
  lgdt [gdtr]
  mov eax, cr0
  or eax, 0x80000001             ; PG | PE
  mov cr0, eax
  jmp 0x08:entry64

align 8
gdt:
  dq 0
  dq 0x00af9a000000ffff          ; 0x08: 64-bit code
  dq 0x00cf92000000ffff          ; 0x10: data
gdt_end:
gdtr:
  dw gdt_end - gdt - 1
  dd gdt

bits 64
entry64:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov rsp, 0x90000
  mov rcx, [params + 4]
  mov eax, [params]
  mov rsi, 0x1000000             ; 16 MiB at 16 MiB
  mov rdi, 0x2000000
  mov edx, 1
  cmp eax, 1
  je w_b
  cmp eax, 2
  je w_b2
  cmp eax, 3
  je w_c
  cmp eax, 4
  je w_c2
w_a:
  LOOP_ALU
  jmp done
w_b:
  LOOP_MEM 8
  jmp done
w_b2:
  LOOP_MEM 4096
  jmp done
w_c:
  LOOP_CALL
  jmp done
w_c2:
  LOOP_INDIRECT
done:
  xor eax, eax
  out 0xf4, al
  hlt
  jmp done
image_end:
